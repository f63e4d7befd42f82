// `miro serve`: a local web server over a pipeline's data (Hono on Node's HTTP server). One route
// module per page (routes/: pages, dataset, rewards, run, dials, claims) over one shared context
// (context.ts); this file opens the sandboxed DuckDB connection and its queue, guards every request
// (Host allow-list, same-origin POSTs), turns every thrown error into a status in one onError, and
// starts the HTTP server. User input reaches SQL only as a checked filter expression, a whitelisted
// column name, or a bound parameter; no route maps input to a file path.

import path from 'node:path';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { serve as serveHttp } from '@hono/node-server';
import pLimit from 'p-limit';
import type { Pipeline } from '../dag/pipeline.js';
import { openViews } from '../dag/views.js';
import { sandbox } from '../store/sql-guard.js';
import { BadRequest } from '../errors.js';
import { Dataset } from './dataset.js';
import { Dials } from './dials.js';
import { QueryTimeout, type ServeContext } from './context.js';
import { pageRoutes } from './routes/pages.js';
import { datasetRoutes } from './routes/dataset.js';
import { rewardsRoutes } from './routes/rewards.js';
import { runRoutes } from './routes/run.js';
import { dialsRoutes } from './routes/dials.js';
import { claimsRoutes } from './routes/claims.js';

export { renderReport } from './markdown.js';

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
  const ctx: ServeContext = { pipeline, conn, dataset, dials, db };
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

  for (const routes of [pageRoutes(), datasetRoutes(ctx), rewardsRoutes(ctx), runRoutes(ctx), dialsRoutes(ctx), claimsRoutes(ctx)])
    app.route('/', routes);
  app.notFound((c) => c.text('not found', 404));
  // The one place a thrown error becomes a status: the API answers JSON, everything else text.
  app.onError((err, c) => {
    const status = err instanceof HTTPException ? err.status : err instanceof QueryTimeout ? 503 : err instanceof BadRequest ? 400 : 500;
    if (status === 500) log(`miro serve: ${c.req.method} ${c.req.path}: ${err.message}`);
    return c.req.path.startsWith('/api/') ? c.json({ error: err.message }, status) : c.text(err.message, status);
  });

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

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');
