// A bounded load test: 20 clients send 2,000 requests between them to a real `miro serve`
// process on the CI pipeline (pages of rows under filters and sorts, one row, images, rewards,
// status, curves, models, claims, and bad requests mixed in). It records errors, the longest
// request and the server's peak RSS (VmHWM): no 5xx, no dropped connection, peak RSS under 1 GB.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BIN, ROOT, runCli, tmpDir } from './helpers.ts';
import { spawn } from 'node:child_process';

const CLIENTS = 20;
const REQUESTS = 2000;

test('2,000 requests from 20 clients: no 5xx or dropped connection, the longest request and peak RSS recorded, RSS under 1 GB', async (t) => {
  const root = tmpDir('miro-load-');
  const run = await runCli(['run', 'pipelines/ci.yaml'], { env: { MIRO_DATA_ROOT: root } });
  assert.equal(run.code, 0, run.stderr);
  const child = spawn(process.execPath, [BIN, 'serve', 'pipelines/ci.yaml', '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, MIRO_DATA_ROOT: root },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /http:\/\/\S+/.exec(out);
        if (m) resolve(m[0]);
      });
      child.on('exit', (code) => reject(new Error(`miro serve exited with ${code}`)));
    });
    const ids = ((await (await fetch(`${url}/api/rows?limit=50`)).json()) as { rows: { id: string }[] }).rows.map((r) => r.id);
    assert.ok(ids.length >= 20);
    const paths = (i: number): string => {
      const id = ids[i % ids.length]!;
      const routes = [
        `/api/rows?limit=48`,
        `/api/rows?sort=colourfulness_score&dir=desc&limit=24`,
        `/api/rows?where=${encodeURIComponent('sharpness_bin >= 2 AND contrast_target > 0.3')}`,
        `/api/rows?where=${encodeURIComponent("caption ILIKE '%circle%'")}&sort=contrast_score`,
        `/api/row/${encodeURIComponent(id)}`,
        `/img/${encodeURIComponent(id)}`,
        `/api/rewards`,
        `/api/status`,
        `/api/curves`,
        `/api/models`,
        `/api/claims`,
        `/api/info`,
        `/api/rows?where=${encodeURIComponent('1=1; DROP TABLE dataset')}`, // 400
        `/api/rows?sort=no_such_column`, // 400
        `/api/row/no-such-id`, // 404
      ];
      return routes[i % routes.length]!;
    };
    let next = 0;
    let longest = { ms: 0, path: '' };
    const byStatus = new Map<number, number>();
    const failures: string[] = [];
    const client = async () => {
      for (;;) {
        const i = next++;
        if (i >= REQUESTS) return;
        const p = paths(i);
        const t0 = performance.now();
        try {
          const res = await fetch(`${url}${p}`);
          await res.arrayBuffer();
          byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
          if (res.status >= 500) failures.push(`${res.status} ${p}`);
        } catch (err) {
          failures.push(`${(err as Error).message} ${p}`);
        }
        const ms = performance.now() - t0;
        if (ms > longest.ms) longest = { ms, path: p };
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, client));
    const secs = (performance.now() - t0) / 1000;
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
    t.diagnostic(
      `${REQUESTS} requests in ${secs.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries(byStatus))}; ` +
        `longest ${longest.ms.toFixed(0)} ms (${longest.path}); server peak RSS ${peakMb.toFixed(0)} MB`,
    );
    assert.deepEqual(failures, []);
    assert.equal(
      [...byStatus.values()].reduce((a, b) => a + b, 0),
      REQUESTS,
    );
    assert.ok((byStatus.get(400) ?? 0) > 0 && (byStatus.get(404) ?? 0) > 0, 'the bad requests were answered as such');
    assert.ok(peakMb < 1024, `server peak RSS ${peakMb} MB`);
  } finally {
    child.kill('SIGTERM');
  }
});
