// The Dataset page: what the table holds, pages of rows under a filter and sort, one row, image
// bytes by id, and reloading after a run commits more.

import { Hono } from 'hono';
import { sniffMime } from '../../util/image.js';
import { httpError, type ServeContext } from '../context.js';

export function datasetRoutes({ pipeline, dataset, db }: ServeContext): Hono {
  const app = new Hono();
  app.get('/api/info', async (c) =>
    c.json(
      await db(async () => ({
        pipeline: pipeline.settings.name,
        file: pipeline.file,
        rewards: dataset.rewards,
        columns: dataset.columns,
        waiting: dataset.waiting,
      })),
    ),
  );
  app.get('/api/rows', async (c) =>
    c.json(
      await db(() =>
        dataset.page({
          where: c.req.query('where'),
          sort: c.req.query('sort'),
          dir: c.req.query('dir') as 'asc' | 'desc',
          after: c.req.query('after') ?? null,
          limit: Number(c.req.query('limit') ?? 48),
        }),
      ),
    ),
  );
  app.get('/api/row/:id', async (c) => {
    const r = await db(() => dataset.row(c.req.param('id')));
    if (!r) throw httpError(404, `no row with id ${c.req.param('id')}`);
    return c.json(r);
  });
  app.post('/api/reload', async (c) => c.json(await db(async () => (await dataset.reload(), { ok: true, waiting: dataset.waiting }))));
  app.get('/img/:id', async (c) => {
    const bytes = await db(() => dataset.image(c.req.param('id')));
    if (!bytes) throw httpError(404, `no image with id ${c.req.param('id')}`);
    return c.body(Buffer.from(bytes), 200, {
      'content-type': sniffMime(bytes),
      'cache-control': 'private, max-age=3600',
      etag: `"${c.req.param('id')}"`,
    });
  });
  return app;
}
