// The Run page: every node's status and the training curves.

import { existsSync } from 'node:fs';
import { Hono } from 'hono';
import { nodeStatuses } from '../../dag/status.js';
import { layoutOf } from '../../store/layout.js';
import { queryRows, sqlFileList } from '../../store/duck.js';
import type { ServeContext } from '../context.js';

/** The most points of a training curve the page draws: every k-th step past it. */
const CURVE_POINTS = 500;

export function runRoutes({ pipeline, conn, db }: ServeContext): Hono {
  const app = new Hono();
  // Polled every 3 s: from markers and manifests, never re-identifying the inputs (a stat per image).
  app.get('/api/status', async (c) => c.json(await db(() => nodeStatuses(pipeline, { recorded: true }))));
  app.get('/api/curves', async (c) =>
    c.json(
      await db(async () => {
        const out: Record<string, { step: number; loss: number }[]> = {};
        for (const spec of pipeline.nodes.values()) {
          if (spec.stage.kind !== 'train') continue;
          const files = layoutOf(pipeline, spec.name)
            .shardFiles(spec.shards)
            .filter((f) => existsSync(f));
          if (!files.length) continue;
          const rows = await queryRows(
            conn,
            `WITH m AS (SELECT step, loss FROM read_parquet(${sqlFileList(files)})) SELECT step, loss FROM m WHERE step % greatest(1, (SELECT count(*) FROM m) // ${CURVE_POINTS}) = 0 ORDER BY step`,
          );
          out[spec.name] = rows.map((r) => ({ step: Number(r.step), loss: Number(r.loss) }));
        }
        return out;
      }),
    ),
  );
  return app;
}
