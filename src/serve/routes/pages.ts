// The pages themselves: plain HTML, CSS and one module from ../static, no build step.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';

// The same folder from src/serve/routes and from its build in dist/serve/routes.
const STATIC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/serve/static');
const ASSETS: Record<string, string> = { '/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css' };
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export function pageRoutes(): Hono {
  const app = new Hono();
  for (const [route, file] of Object.entries(ASSETS))
    app.get(route, (c) =>
      c.body(readFileSync(path.join(STATIC, file)), 200, { 'content-type': TYPES[file.split('.').pop()!]!, 'cache-control': 'no-cache' }),
    );
  return app;
}
