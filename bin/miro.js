#!/usr/bin/env node
// Entry point. Runs the compiled CLI in dist/ (built at install by `prepare`: `npm ci`, `npm
// install`, `make`) when that build is at least as new as every file of src/; otherwise a checkout
// being edited runs from source through the TypeScript loader, so a change never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const stamp = new URL('dist/.built', root);

/** The newest modification time under a folder (src/ is a few hundred files: about a millisecond). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = new URL(e.name + (e.isDirectory() ? '/' : ''), dir);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

// MIRO_FROM_SOURCE=1 runs src/ even over a fresh build (bench/cli.ts compares the two).
const compiled = !process.env.MIRO_FROM_SOURCE && existsSync(stamp) && statSync(stamp).mtimeMs >= newest(new URL('src/', root));
if (process.argv.includes('--child-options')) {
  // A node run in a child process ends when its parent run is gone (killed, not only exited).
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && process.exit(137), 500).unref();
}
let main;
if (compiled) ({ main } = await import('../dist/cli/main.js'));
else {
  (await import('tsx/esm/api')).register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
