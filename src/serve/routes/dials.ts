// The Dials page: the trained models, and a sample from one for a prompt, targets and guidance.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Hono } from 'hono';
import { layoutOf } from '../../store/layout.js';
import type { DialRequest } from '../sampler-worker.js';
import { httpError, type ServeContext } from '../context.js';

/** A number from the request, clamped to [lo, hi]; anything else is the default. */
const clamp = (v: unknown, d: number, lo: number, hi: number) =>
  typeof v === 'number' && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : d;

export function dialsRoutes({ pipeline, dials }: ServeContext): Hono {
  const app = new Hono();
  const modelConfig = (node: string) => path.join(layoutOf(pipeline, node).modelDir(), 'config.json');
  app.get('/api/models', (c) =>
    c.json(
      [...pipeline.nodes.values()]
        .filter((s) => s.stage.kind === 'train' && existsSync(modelConfig(s.name)))
        .map((s) => {
          const cfg = JSON.parse(readFileSync(modelConfig(s.name), 'utf8')) as { rewards: string[]; variant: string };
          return { node: s.name, variant: cfg.variant, rewards: cfg.rewards };
        }),
    ),
  );
  app.post('/api/sample', async (c) => {
    const body = (await c.req.json().catch(() => null)) as (Partial<DialRequest> & { node?: string }) | null;
    const spec = body?.node ? pipeline.nodes.get(body.node) : undefined;
    if (!body || !spec || spec.stage.kind !== 'train') throw httpError(400, `node: not a train node of ${pipeline.settings.name}`);
    if (!existsSync(modelConfig(spec.name))) throw httpError(404, `${spec.name} has no trained model yet`);
    const targets = Object.fromEntries(Object.entries(body.targets ?? {}).map(([k, v]) => [k, clamp(v, 1, 0, 1)]));
    const r = await dials
      .sample({
        model: layoutOf(pipeline, spec.name).modelDir(),
        prompt: String(body.prompt ?? '').slice(0, 500),
        preset: String(body.preset ?? 'custom'),
        targets,
        guidance: clamp(body.guidance, 3, -20, 20),
        seed: Math.trunc(clamp(body.seed, 0, 0, 2 ** 31 - 1)),
        steps: Math.trunc(clamp(body.steps, 30, 1, 200)),
      })
      .catch((err: Error) => {
        throw httpError(400, err.message); // the request could not be sampled (a preset the model lacks, a bad target)
      });
    return c.body(Buffer.from(r.png), 200, { 'content-type': 'image/png', 'x-sample-ms': String(Math.round(r.ms)) });
  });
  return app;
}
