// `miro serve`: a local web server over a pipeline's data (Hono on Node's HTTP server). JSON APIs
// for the Dataset, Rewards, Run, Dials and Claims pages, image bytes from Parquet by id, and the
// pages themselves (plain HTML, CSS and a module in ./static, no build step). DuckDB runs on one
// connection sandboxed to the pipeline's data root; user input reaches SQL only as a checked filter
// expression, a whitelisted column name, or a quoted literal; no route maps input to a file path.

import { existsSync, promises as fs, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Hono, type Context } from 'hono';
import { serve as serveHttp } from '@hono/node-server';
import pLimit from 'p-limit';
import { Marked } from 'marked';
import type { Pipeline } from '../dag/pipeline.js';
import { openViews } from '../dag/views.js';
import { nodeStatuses } from '../dag/status.js';
import { layoutOf } from '../store/layout.js';
import { sniffMime } from '../util/image.js';
import { queryRows, sqlFileList } from '../store/duck.js';
import { sandbox } from '../store/sql-guard.js';
import { BadRequest, Dataset } from './dataset.js';
import { rewardSummaries } from './rewards.js';
import type { DialRequest } from './sampler-worker.js';
import { settings } from '../util/settings.js';

const STATIC = path.join(path.dirname(fileURLToPath(import.meta.url)), 'static');
const ASSETS: Record<string, string> = { '/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css' };
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/**
 * The report's Markdown as HTML. Its text comes partly from data (captions, prompts), so raw HTML
 * in it is escaped, except the <details> and <summary> tags the reports use, and links keep only
 * http(s), relative and anchor targets.
 */
const markdown = new Marked({
  renderer: {
    html({ text }) {
      return text
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/&lt;(\/?)(details|summary)&gt;/g, '<$1$2>');
    },
    link({ href, tokens }) {
      // The link text is rendered as inline Markdown like any other, so raw HTML in it is escaped by
      // html() above (its raw `text` would reach the page as it is). A link to another Markdown file
      // of the report folder has no page here: its text only.
      const text = this.parser.parseInline(tokens);
      return /^(https?:|\/|#|[\w.-]+(\/|$))/i.test(href) && !/^javascript:/i.test(href) && !href.endsWith('.md')
        ? `<a href="${href.replace(/"/g, '&quot;')}">${text}</a>`
        : text;
    },
  },
});

export async function renderReport(md: string): Promise<string> {
  return markdown.parse(md);
}

export interface ServeOptions {
  port?: number;
  host?: string;
  /** Each request's queries are interrupted after this long (default STATEMENT_TIMEOUT_MS). */
  statementTimeoutMs?: number;
  log?: (m: string) => void;
}

export interface Server {
  url: string;
  close(): Promise<void>;
}

export async function startServer(pipeline: Pipeline, opts: ServeOptions = {}): Promise<Server> {
  const log = opts.log ?? (() => {});
  const { conn } = await openViews(pipeline, { isolated: true }); // its sandbox stays on this connection's instance
  const dataset = await Dataset.open(conn, pipeline);
  // The connection reads this run's folder only (not other pipelines under the same data root), and
  // a query may hold at most SERVE_MEMORY_LIMIT.
  await sandbox(conn, [path.join(pipeline.settings.dataRoot, pipeline.settings.name)], { memoryLimit: SERVE_MEMORY_LIMIT });
  // One DuckDB connection: one query at a time, each stopped after the statement timeout (a costly
  // filter gets a 503 instead of holding every database route).
  const queue = pLimit(1);
  const timeoutMs = opts.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS;
  const db = <T>(f: () => Promise<T>): Promise<T> =>
    queue(async () => {
      let stopped = false;
      const timer = setTimeout(() => {
        stopped = true;
        conn.interrupt();
      }, timeoutMs);
      try {
        return await f();
      } catch (err) {
        if (stopped) throw new QueryTimeout(`the query ran past ${timeoutMs / 1000} s and was stopped: narrow the filter`);
        throw err;
      } finally {
        clearTimeout(timer);
      }
    });
  const dials = new Dials(log);
  const app = new Hono();

  // Requests name this server (a Host allow-list against DNS rebinding), and a POST comes from its
  // own pages (a cross-site form or fetch is refused).
  let allowedHosts = new Set<string>();
  app.use('*', async (c, next) => {
    if (!allowedHosts.has(c.req.header('host') ?? '')) return c.text('unknown host', 403);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const origin = c.req.header('origin');
      const site = c.req.header('sec-fetch-site');
      if (
        (origin !== undefined && !allowedHosts.has(origin.replace(/^https?:\/\//, ''))) ||
        (site !== undefined && site !== 'same-origin' && site !== 'none')
      )
        return c.text('cross-site request refused', 403);
    }
    await next();
  });

  const json = (c: Context, f: () => Promise<unknown>) =>
    db(f)
      .then((v) => c.json(v as object))
      .catch((err: Error) => c.json({ error: err.message }, err instanceof QueryTimeout ? 503 : err instanceof BadRequest ? 400 : 500));

  for (const [route, file] of Object.entries(ASSETS))
    app.get(route, (c) =>
      c.body(readFileSync(path.join(STATIC, file)), 200, { 'content-type': TYPES[file.split('.').pop()!]!, 'cache-control': 'no-cache' }),
    );

  app.get('/api/info', (c) =>
    json(c, async () => ({
      pipeline: pipeline.settings.name,
      file: pipeline.file,
      rewards: dataset.rewards,
      columns: dataset.columns,
      waiting: dataset.waiting,
    })),
  );
  app.get('/api/rows', (c) =>
    json(c, () =>
      dataset.page({
        where: c.req.query('where'),
        sort: c.req.query('sort'),
        dir: c.req.query('dir') as 'asc' | 'desc',
        after: c.req.query('after') ?? null,
        limit: Number(c.req.query('limit') ?? 48),
      }),
    ),
  );
  app.get('/api/row/:id', async (c) => {
    const r = await db(() => dataset.row(c.req.param('id')));
    return r ? c.json(r) : c.json({ error: `no row with id ${c.req.param('id')}` }, 404);
  });
  app.post('/api/reload', (c) => json(c, async () => (await dataset.reload(), { ok: true, waiting: dataset.waiting })));
  app.get('/img/:id', async (c) => {
    const bytes = await db(() => dataset.image(c.req.param('id')));
    if (!bytes) return c.text(`no image with id ${c.req.param('id')}`, 404);
    return c.body(Buffer.from(bytes), 200, {
      'content-type': sniffMime(bytes),
      'cache-control': 'private, max-age=3600',
      etag: `"${c.req.param('id')}"`,
    });
  });
  app.get('/api/rewards', (c) => json(c, () => rewardSummaries(conn, pipeline, dataset)));
  // Polled every 3 s: from markers and manifests, never re-identifying the inputs (a stat per image).
  app.get('/api/status', (c) => json(c, () => nodeStatuses(pipeline, { recorded: true })));
  app.get('/api/curves', (c) =>
    json(c, async () => {
      const out: Record<string, { step: number; loss: number }[]> = {};
      for (const spec of pipeline.nodes.values()) {
        if (spec.stage.kind !== 'train') continue;
        const files = layoutOf(pipeline, spec.name)
          .shardFiles(spec.shards)
          .filter((f) => existsSync(f));
        if (!files.length) continue;
        // At most 500 points: every k-th step.
        const rows = await queryRows(
          conn,
          `WITH m AS (SELECT step, loss FROM read_parquet(${sqlFileList(files)})) SELECT step, loss FROM m WHERE step % greatest(1, (SELECT count(*) FROM m) // 500) = 0 ORDER BY step`,
        );
        out[spec.name] = rows.map((r) => ({ step: Number(r.step), loss: Number(r.loss) }));
      }
      return out;
    }),
  );
  app.get('/api/models', (c) =>
    json(c, async () =>
      [...pipeline.nodes.values()]
        .filter((s) => s.stage.kind === 'train' && existsSync(path.join(layoutOf(pipeline, s.name).dir, 'model/config.json')))
        .map((s) => {
          const cfg = JSON.parse(readFileSync(path.join(layoutOf(pipeline, s.name).dir, 'model/config.json'), 'utf8')) as {
            rewards: string[];
            variant: string;
          };
          return { node: s.name, variant: cfg.variant, rewards: cfg.rewards };
        }),
    ),
  );
  app.post('/api/sample', async (c) => {
    const body = (await c.req.json().catch(() => null)) as (Partial<DialRequest> & { node?: string }) | null;
    const spec = body?.node ? pipeline.nodes.get(body.node) : undefined;
    if (!body || !spec || spec.stage.kind !== 'train') return c.json({ error: `node: not a train node of ${pipeline.settings.name}` }, 400);
    const model = layoutOf(pipeline, spec.name).modelDir();
    if (!existsSync(path.join(model, 'config.json'))) return c.json({ error: `${spec.name} has no trained model yet` }, 404);
    const num = (v: unknown, d: number, lo: number, hi: number) =>
      typeof v === 'number' && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : d;
    const targets = Object.fromEntries(Object.entries(body.targets ?? {}).map(([k, v]) => [k, num(v, 1, 0, 1)]));
    try {
      const r = await dials.sample({
        model,
        prompt: String(body.prompt ?? '').slice(0, 500),
        preset: String(body.preset ?? 'custom'),
        targets,
        guidance: num(body.guidance, 3, -20, 20),
        seed: Math.trunc(num(body.seed, 0, 0, 2 ** 31 - 1)),
        steps: Math.trunc(num(body.steps, 30, 1, 200)),
      });
      return c.body(Buffer.from(r.png), 200, { 'content-type': 'image/png', 'x-sample-ms': String(Math.round(r.ms)) });
    } catch (err) {
      return c.json({ error: (err as Error).message }, 400);
    }
  });
  app.get('/api/claims', (c) =>
    json(c, async () => {
      const file = path.join(pipeline.settings.reportDir, 'report.md');
      if (!existsSync(file)) return { html: null, file };
      // Images in the report become routes: a chart of the report folder by name, a contact sheet by node and name.
      const md = (await fs.readFile(file, 'utf8')).replace(/!\[([^\]]*)\]\(([^)]+)\)/g, (_m, alt: string, src: string) => {
        const abs = path.resolve(pipeline.settings.reportDir, src);
        const rel = path.relative(pipeline.settings.dataRoot, abs).split(path.sep);
        const inContact = rel.length === 4 && path.dirname(abs) === path.resolve(layoutOf(pipeline, rel[1]!).contactDir());
        const sheet = inContact ? `/contact/${rel[1]}/${rel[3]}` : null;
        return `![${alt}](${sheet ?? `/report/${path.basename(src)}`})`;
      });
      return { html: await renderReport(md), file };
    }),
  );
  // Files by name from a folder's own listing only: a name that is not listed there is a 404.
  const listed = async (c: Context, dir: string, name: string) => {
    const names = existsSync(dir) ? readdirSync(dir) : [];
    if (!/^[\w.-]+\.png$/.test(name) || !names.includes(name)) return c.text('not found', 404);
    return c.body(await fs.readFile(path.join(dir, name)), 200, { 'content-type': 'image/png', 'cache-control': 'no-cache' });
  };
  app.get('/report/:name', (c) => listed(c, pipeline.settings.reportDir, c.req.param('name')));
  app.get('/contact/:node/:name', (c) => {
    const spec = pipeline.nodes.get(c.req.param('node'));
    return spec ? listed(c, layoutOf(pipeline, spec.name).contactDir(), c.req.param('name')) : c.text('not found', 404);
  });
  app.notFound((c) => c.text('not found', 404));

  const host = opts.host ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serveHttp>>((resolve) => {
    const s = serveHttp({ fetch: app.fetch, port: opts.port ?? 8780, hostname: host }, () => resolve(s));
  });
  const address = server.address() as { port: number };
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  const names = new Set([host.includes(':') ? `[${host}]` : host, ...(isLoopback(host) ? ['127.0.0.1', 'localhost', '[::1]'] : [])]);
  allowedHosts = new Set([...names].map((n) => `${n}:${address.port}`));
  log(`miro serve: ${url} (${pipeline.settings.name}, ${dataset.rewards.length} rewards)`);
  return {
    url,
    close: async () => {
      await dials.close();
      await new Promise<void>((r) => server.close(() => r()));
      conn.closeSync();
    },
  };
}

/** DuckDB memory one explorer query may hold; past it a query spills or fails, the server stays up. */
const SERVE_MEMORY_LIMIT = '1GB';
export const STATEMENT_TIMEOUT_MS = 10_000;

/** A request whose queries ran past the statement timeout. */
class QueryTimeout extends Error {}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

/** The sampler worker: requests queue and run one at a time, off the request thread. */
class Dials {
  private worker: Worker | null = null;
  private readonly queue = pLimit(1);
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: { png: Uint8Array; ms: number }) => void; reject: (e: Error) => void }>();

  constructor(private readonly log: (m: string) => void) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./sampler-worker-boot.mjs', import.meta.url), { workerData: { settings: settings() } });
    w.on('message', (m: { id: number; png?: Uint8Array; ms?: number; error?: string }) => {
      const p = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve({ png: m.png!, ms: m.ms! });
    });
    w.on('error', (err) => {
      this.log(`sampler worker: ${err.message}`);
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
      this.worker = null;
    });
    this.worker = w;
    return w;
  }

  sample(req: Omit<DialRequest, 'id'>): Promise<{ png: Uint8Array; ms: number }> {
    return this.queue(
      () =>
        new Promise((resolve, reject) => {
          const id = this.nextId++;
          this.waiting.set(id, { resolve, reject });
          this.start().postMessage({ ...req, id });
        }),
    );
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
