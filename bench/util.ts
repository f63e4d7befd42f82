// Shared bits for benchmarks: each figure is printed on its own line as `BENCH <name> <value> <unit>`.

import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function report(name: string, value: number, unit: string): void {
  const v = Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
  console.log(`BENCH ${name} ${v} ${unit}`);
}

export function benchDir(name: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `miro-bench-${name}-`));
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; secs: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, secs: (performance.now() - t0) / 1000 };
}
