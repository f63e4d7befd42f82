#!/usr/bin/env node
// Entry point: registers the TypeScript loader, then runs the CLI from source.
import { register } from 'tsx/esm/api';

register();
if (process.argv.includes('--child-options')) {
  // A node run in a child process ends when its parent run is gone (killed, not only exited).
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && process.exit(137), 500).unref();
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
