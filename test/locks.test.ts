// Locks that hold: one writer per shard whatever the world size, an empty lock left by a full
// disk is taken over, and waiting for another rank is bounded and says what it waits for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, tmpDir, writePipeline } from './helpers.ts';

const YAML = 'name: lk\nsettings: {shards: 4}\nnodes:\n  numbers: {uses: rows, with: {count: 40}}\n';
const owner = (pid: number) => JSON.stringify({ pid, host: os.hostname(), since: new Date().toISOString(), what: 'test' });

async function setup(): Promise<{ file: string; env: Record<string, string>; node: string }> {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'lk', YAML);
  const node = path.join(dir, 'data/lk/numbers');
  await fs.mkdir(path.join(node, '_lock'), { recursive: true });
  return { file, env: { MIRO_DATA_ROOT: path.join(dir, 'data') }, node };
}

test('a shard held by a run of another world size is not written twice', async () => {
  const { file, env, node } = await setup();
  // A live run with --world 1 holds shard 0 (this test process stands in for it).
  await fs.writeFile(path.join(node, '_lock/shard-00000'), owner(process.pid));
  const res = await runCli(['run', file, '--rank', '0', '--world', '2'], { env });
  assert.equal(res.code, 1);
  assert.match(res.stderr, new RegExp(`shard 0 of node numbers is locked by process ${process.pid}`));
  assert.ok(!existsSync(path.join(node, '_done/00000.json')), 'shard 0 was not written by the second run');
  await fs.rm(path.join(node, '_lock/shard-00000'));
  const again = await runCli(['run', file, '--rank', '0', '--world', '2'], { env });
  assert.equal(again.code, 0, again.stderr);
  assert.ok(existsSync(path.join(node, '_done/00000.json')) && existsSync(path.join(node, '_done/00002.json')));
});

test('an empty lock file left by a full disk is taken over', async () => {
  const { file, env, node } = await setup();
  const past = new Date(Date.now() - 60_000);
  for (const name of ['prepare', 'rank-0-of-1']) {
    await fs.writeFile(path.join(node, '_lock', name), '');
    await fs.utimes(path.join(node, '_lock', name), past, past);
  }
  const started = Date.now();
  const res = await runCli(['run', file, '--wait-timeout', '30'], { env });
  assert.equal(res.code, 0, res.stderr);
  assert.ok(Date.now() - started < 20_000, 'did not wait for the empty lock');
  assert.ok(existsSync(path.join(node, '_done/00003.json')));
});

test('waiting for a live prepare lock is bounded by --wait-timeout and says what it waits for', async () => {
  const { file, env, node } = await setup();
  await fs.writeFile(path.join(node, '_lock/prepare'), owner(process.pid));
  const res = await runCli(['run', file, '--wait-timeout', '1'], { env });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /prepare of node numbers: waiting up to 1 s for process \d+/);
  assert.match(res.stderr, /prepare of node numbers is locked by process/);
});

test('a lock from another host is taken over once its heartbeat is older than the lease; a fresh one, or a live one here, never', async () => {
  const { file, env, node } = await setup();
  const lock = path.join(node, '_lock/rank-0-of-1');
  const elsewhere = JSON.stringify({
    pid: 4242,
    host: 'node-17.cluster',
    since: '2026-11-28T00:00:00.000Z',
    what: 'node numbers (rank 0 of 1)',
  });
  const age = async (secs: number) => {
    const t = new Date(Date.now() - secs * 1000);
    await fs.utimes(lock, t, t);
  };

  // Fresh heartbeat on another host: not taken, and the error names the owner and the heartbeat.
  await fs.writeFile(lock, elsewhere);
  await age(5);
  const fresh = await runCli(['run', file, '--lock-lease', '60'], { env });
  assert.equal(fresh.code, 1);
  assert.match(fresh.stderr, /locked by process 4242 on node-17\.cluster since .*heartbeat \d+ s ago/);
  assert.ok(!existsSync(path.join(node, '_done/00000.json')));

  // Heartbeat older than the lease: taken over, said in the log, and the node runs.
  await age(120);
  const stale = await runCli(['run', file, '--lock-lease', '60'], { env });
  assert.equal(stale.code, 0, stale.stderr);
  assert.match(stale.stderr, /taking over the lock of process 4242 on node-17\.cluster \(no heartbeat for 1[12]\d s, lease 60 s\)/);
  assert.ok(existsSync(path.join(node, '_done/00003.json')));
  assert.ok(!existsSync(lock), 'the lock is released after the run');

  // A hand-edited lock that ends in a newline is read as such: taken over after the lease, no hang.
  await fs.writeFile(lock, `${elsewhere}\n`);
  await age(120);
  const edited = await runCli(['run', file, '--force', 'numbers', '--lock-lease', '60'], { env });
  assert.equal(edited.code, 0, edited.stderr);
  assert.match(edited.stderr, /taking over the lock of process 4242/);

  // The holder's lease, written into its lock, wins over a taker's shorter one.
  await fs.writeFile(lock, JSON.stringify({ ...JSON.parse(elsewhere), lease_ms: 3_600_000 }));
  await age(120);
  const longLease = await runCli(['run', file, '--force', 'numbers', '--lock-lease', '60'], { env });
  assert.equal(longLease.code, 1);
  assert.match(longLease.stderr, /locked by process 4242 on node-17\.cluster/);
  await fs.rm(lock);

  // A live process on this host is never taken over, however old its heartbeat.
  await fs.writeFile(lock, owner(process.pid));
  await age(3600);
  const live = await runCli(['run', file, '--force', 'numbers', '--lock-lease', '1'], { env });
  assert.equal(live.code, 1);
  assert.match(live.stderr, new RegExp(`locked by process ${process.pid} on `));
  await fs.rm(lock);
});

test('a held lock keeps its heartbeat fresh while its owner runs', async () => {
  const { FileLock } = await import('../src/store/lock.ts');
  const dir = tmpDir();
  const file = path.join(dir, 'held');
  const lock = await FileLock.acquire(file, 'test', { leaseMs: 1000 });
  const old = new Date(Date.now() - 60_000);
  await fs.utimes(file, old, old);
  await new Promise((r) => setTimeout(r, 600));
  const beat = (await fs.stat(file)).mtimeMs;
  assert.ok(Date.now() - beat < 1000, `heartbeat ${Date.now() - beat} ms old`);
  await lock.release();
  assert.ok(!existsSync(file));
});

test('a rank waiting for shards that no live lock holds says so after a lease and runs them itself; a live holder is waited for', async () => {
  const dir = tmpDir();
  const file = await writePipeline(
    dir,
    'or',
    `name: or
settings: {shards: 2}
nodes:
  synth: {uses: synth, with: {count: 24}}
  score: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  bins: {uses: bins, needs: [score], with: {num_bins: 4, rewards: {colourfulness: score.score}}}
`,
  );
  const root = path.join(dir, 'data');
  const env = { MIRO_DATA_ROOT: root };
  // Rank 1 of 2 never starts. Its synth shard is held for a while by a live lock (this test process
  // stands in for rank 1), so rank 0 waits; once the lock goes, rank 0 takes the shard over after a lease.
  const lockDir = path.join(root, 'or/synth/_lock');
  await fs.mkdir(lockDir, { recursive: true });
  await fs.writeFile(path.join(lockDir, 'rank-1-of-2'), owner(process.pid));
  const started = Date.now();
  const release = setTimeout(() => void fs.rm(path.join(lockDir, 'rank-1-of-2'), { force: true }), 4000);
  const res = await runCli(['run', file, '--rank', '0', '--world', '2', '--lock-lease', '2', '--jobs', '1'], { env });
  clearTimeout(release);
  assert.equal(res.code, 0, res.stderr);
  assert.ok(Date.now() - started >= 4000, 'rank 0 did not wait for the live lock');
  assert.match(res.stderr, /synth shard 1 has had no live lock for \d+ s \(its rank 1 is gone or never started\): running it on rank 0/);
  // What rank 0 waited for (bins reads every score shard, score shard 1 reads synth shard 1) it ran.
  for (const n of ['synth', 'score'])
    for (const s of ['00000', '00001']) assert.ok(existsSync(path.join(root, `or/${n}/_done/${s}.json`)), `${n} shard ${s}`);
  assert.ok(existsSync(path.join(root, 'or/bins/_done/00000.json')));
  assert.ok(!existsSync(path.join(root, 'or/bins/_done/00001.json')), "nothing waited for bins shard 1: it stays rank 1's");
  // Rank 1, starting late, finds its synth and score shards committed and runs only its bins shard.
  const late = await runCli(['run', file, '--rank', '1', '--world', '2'], { env });
  assert.equal(late.code, 0, late.stderr);
  assert.match(late.stderr, /\[bins\][^\n]*1 shard\(s\) on rank 1\/2/);
  assert.doesNotMatch(late.stderr, /\[(synth|score)\][^\n]*shard\(s\) on rank/);
  assert.ok(existsSync(path.join(root, 'or/bins/_done/00001.json')));
});
