// The Claims page: the report as HTML, with its charts and contact sheets as routes. Files are
// served by name from a folder's own listing only: a name that is not listed there is a 404.

import { existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { Hono, type Context } from 'hono';
import { layoutOf } from '../../store/layout.js';
import { renderReport } from '../markdown.js';
import { httpError, type ServeContext } from '../context.js';

async function listed(c: Context, dir: string, name: string): Promise<Response> {
  const names = existsSync(dir) ? readdirSync(dir) : [];
  if (!/^[\w.-]+\.png$/.test(name) || !names.includes(name)) throw httpError(404, 'not found');
  return c.body(await fs.readFile(path.join(dir, name)), 200, { 'content-type': 'image/png', 'cache-control': 'no-cache' });
}

export function claimsRoutes({ pipeline }: ServeContext): Hono {
  const app = new Hono();
  const { reportDir, dataRoot } = pipeline.settings;
  app.get('/api/claims', async (c) => {
    const file = path.join(reportDir, 'report.md');
    if (!existsSync(file)) return c.json({ html: null, file });
    // Images in the report become routes: a chart of the report folder by name, a contact sheet by node and name.
    const md = (await fs.readFile(file, 'utf8')).replace(/!\[([^\]]*)\]\(([^)]+)\)/g, (_m, alt: string, src: string) => {
      const abs = path.resolve(reportDir, src);
      const rel = path.relative(dataRoot, abs).split(path.sep);
      const inContact = rel.length === 4 && path.dirname(abs) === path.resolve(layoutOf(pipeline, rel[1]!).contactDir());
      return `![${alt}](${inContact ? `/contact/${rel[1]}/${rel[3]}` : `/report/${path.basename(src)}`})`;
    });
    return c.json({ html: await renderReport(md), file });
  });
  app.get('/report/:name', (c) => listed(c, reportDir, c.req.param('name')));
  app.get('/contact/:node/:name', (c) => {
    const spec = pipeline.nodes.get(c.req.param('node'));
    if (!spec) throw httpError(404, 'not found');
    return listed(c, layoutOf(pipeline, spec.name).contactDir(), c.req.param('name'));
  });
  return app;
}
