// The pipeline engine, end to end, with real processes, real files and real Parquet.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { killRun, runCli, startCli, tmpDir, writeImageFolder, writeImage, writePipeline, snapshot, sql } from './helpers.ts';

function pipelineYaml(images: string, shards: number, expr = 'width * height'): string {
  return `name: eng
settings: {shards: ${shards}, seed: 7}
nodes:
  ingest:
    uses: ingest
    with: {path: ${JSON.stringify(images)}}
  area:
    uses: derive
    needs: [ingest]
    with: {columns: {area: {sql: "${expr}", type: INTEGER}}}
  doubled:
    uses: derive
    needs: [area]
    with: {columns: {area2: {sql: "area * 2", type: INTEGER}}}
  numbers:
    uses: rows
    with: {count: 50}
`;
}

test('a small DAG runs end to end, and a second run does nothing', async () => {
  const dir = tmpDir();
  await writeImageFolder(path.join(dir, 'images'), 40);
  const file = await writePipeline(dir, 'eng', pipelineYaml(path.join(dir, 'images'), 4));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const first = await runCli(['run', file], { env });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /done: 4 node\(s\) ran/);
  const rows = await sql(
    `SELECT count(*) AS n, count(DISTINCT id) AS ids, min(area2) AS a FROM read_parquet('${dir}/data/eng/doubled/*.parquet')`,
  );
  assert.deepEqual(rows, [{ n: 40, ids: 40, a: 24 * 24 * 2 }]);
  const before = await snapshot(path.join(dir, 'data'), (r) => r.endsWith('.json') || r.endsWith('.parquet'));
  const mtimes = [...before.keys()].map((k) => statSync(path.join(dir, 'data', k)).mtimeMs);

  const second = await runCli(['run', file], { env });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /done: 0 node\(s\) ran, 4 up to date/);
  const after = await snapshot(path.join(dir, 'data'), (r) => r.endsWith('.json') || r.endsWith('.parquet'));
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
  assert.deepEqual(
    [...before.keys()].map((k) => statSync(path.join(dir, 'data', k)).mtimeMs),
    mtimes,
  );

  const status = await runCli(['status', file], { env });
  assert.match(status.stdout, /ingest\s+ingest\s+4\/4\s+40\s+0\s+up to date/);
  const q = await runCli(['sql', file, 'SELECT count(*) AS n FROM area JOIN ingest USING (id)', '--format', 'csv'], { env });
  assert.equal(q.stdout.trim(), 'n\n40');
});

test('a changed parameter re-runs exactly that node and its descendants', async () => {
  const dir = tmpDir();
  await writeImageFolder(path.join(dir, 'images'), 12);
  const file = await writePipeline(dir, 'eng', pipelineYaml(path.join(dir, 'images'), 2));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const markers = async (node: string) => await snapshot(path.join(dir, 'data/eng', node, '_done'), () => true);
  const ingestBefore = await markers('ingest');
  const numbersBefore = await markers('numbers');

  await fs.writeFile(file, pipelineYaml(path.join(dir, 'images'), 2, 'width * height + 1'));
  const dry = await runCli(['run', file, '--dry-run'], { env });
  assert.match(dry.stdout, /ingest\s+ingest\s+skip\s+up to date/);
  assert.match(dry.stdout, /area\s+derive\s+run 2\/2 shard\(s\)\s+stale: with\.columns/);
  assert.match(dry.stdout, /doubled\s+derive\s+run 2\/2 shard\(s\)\s+stale: input area changed/);
  assert.match(dry.stdout, /numbers\s+rows\s+skip/);

  const res = await runCli(['run', file], { env });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /done: 2 node\(s\) ran, 2 up to date/);
  assert.deepEqual(await markers('ingest'), ingestBefore);
  assert.deepEqual(await markers('numbers'), numbersBefore);
  const rows = await sql(`SELECT min(area2) AS a FROM read_parquet('${dir}/data/eng/doubled/*.parquet')`);
  assert.equal(rows[0]!.a, (24 * 24 + 1) * 2);
});

test('a run killed with SIGKILL mid-node resumes to the same bytes as an uninterrupted run', async () => {
  const dir = tmpDir();
  await writeImageFolder(path.join(dir, 'images'), 900, 32);
  const file = await writePipeline(dir, 'eng', pipelineYaml(path.join(dir, 'images'), 30));
  const clean = { MIRO_DATA_ROOT: path.join(dir, 'clean') };
  const killed = { MIRO_DATA_ROOT: path.join(dir, 'killed') };
  assert.equal((await runCli(['run', file], { env: clean })).code, 0);

  const { child, done } = startCli(['run', file], { env: killed });
  const firstMarker = path.join(dir, 'killed/eng/ingest/_done/00002.json');
  while (!existsSync(firstMarker)) await new Promise((r) => setTimeout(r, 2));
  killRun(child);
  await done;
  const committed = (await fs.readdir(path.join(dir, 'killed/eng/ingest/_done'))).length;
  assert.ok(committed >= 3 && committed < 30, `killed mid-node: ${committed} of 30 shards committed`);

  const resumed = await runCli(['run', file], { env: killed });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`\\[ingest\\] shard not committed: ${30 - committed} shard\\(s\\)`));
  const a = await snapshot(path.join(dir, 'clean'));
  const b = await snapshot(path.join(dir, 'killed'));
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [k, v] of a) assert.ok(v.equals(b.get(k)!), `${k} differs after resume`);
  const ids = await sql(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM read_parquet('${dir}/killed/eng/ingest/*.parquet')`);
  assert.deepEqual(ids, [{ n: 900, d: 900 }]);
});

test('two ranks started at once produce every shard exactly once', async () => {
  const dir = tmpDir();
  await writeImageFolder(path.join(dir, 'images'), 120);
  const file = await writePipeline(dir, 'eng', pipelineYaml(path.join(dir, 'images'), 6));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const [r0, r1] = await Promise.all([
    runCli(['run', file, '--rank', '0', '--world', '2'], { env }),
    runCli(['run', file, '--rank', '1', '--world', '2'], { env }),
  ]);
  assert.equal(r0.code, 0, r0.stderr);
  assert.equal(r1.code, 0, r1.stderr);
  for (const node of ['ingest', 'area', 'doubled', 'numbers']) {
    const markers = await snapshot(path.join(dir, 'data/eng', node, '_done'), () => true);
    assert.equal(markers.size, 6, node);
    for (const [name, bytes] of markers) {
      const m = JSON.parse(bytes.toString()) as { shard: number; rank: number; world: number };
      assert.equal(m.world, 2);
      assert.equal(m.rank, m.shard % 2, `${node}/${name} written by rank ${m.rank}`);
    }
  }
  const ids = await sql(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM read_parquet('${dir}/data/eng/doubled/*.parquet')`);
  assert.deepEqual(ids, [{ n: 120, d: 120 }]);
});

test('undecodable and unreadable images become error rows; --retry-failed redoes only them', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 20);
  await fs.writeFile(path.join(images, 'broken.png'), Buffer.from('this is not a png'));
  await fs.writeFile(path.join(images, 'broken.txt'), 'a broken image');
  await fs.symlink(path.join(dir, 'elsewhere.png'), path.join(images, 'missing.png'));
  const file = await writePipeline(dir, 'eng', pipelineYaml(images, 3));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const first = await runCli(['run', file], { env });
  assert.equal(first.code, 0, first.stderr);
  const byStatus = await sql(
    `SELECT status, count(*) AS n, any_value(error) AS error FROM read_parquet('${dir}/data/eng/ingest/*.parquet') GROUP BY status ORDER BY status`,
  );
  assert.deepEqual(
    byStatus.map((r) => [r.status, r.n]),
    [
      ['decode_error', 1],
      ['ok', 20],
      ['read_error', 1],
    ],
  );
  assert.match(String(byStatus[0]!.error), /broken\.png/);
  assert.match(String(byStatus[2]!.error), /missing\.png: ENOENT/);
  const status = await runCli(['status', file], { env });
  assert.match(status.stdout, /ingest\s+ingest\s+3\/3\s+20\s+2\s+up to date/);

  // Fix both, and break a good image: a retry that re-read good rows would now fail on it.
  await writeImage(path.join(images, 'broken.png'), 99);
  await writeImage(path.join(dir, 'elsewhere.png'), 98);
  await fs.writeFile(path.join(images, '00000', '000003.png'), 'garbage now');
  // A retry takes the shard's lock like a first run: held by a live process, the retry waits for it.
  const doneDir = path.join(dir, 'data/eng/ingest/_done');
  const failedShard = (await fs.readdir(doneDir))
    .map((f) => JSON.parse(readFileSync(path.join(doneDir, f), 'utf8')))
    .find((m) => m.stats.failed > 0)!.shard;
  const shardLock = path.join(dir, `data/eng/ingest/_lock/shard-${String(failedShard).padStart(5, '0')}`);
  await fs.writeFile(shardLock, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString(), what: 'a test' }));
  const held = await runCli(['run', file, '--retry-failed', 'ingest', '--wait-timeout', '1'], { env });
  assert.equal(held.code, 1);
  assert.match(held.stderr, new RegExp(`shard ${failedShard} of node ingest is locked by process ${process.pid}`));
  await fs.rm(shardLock);
  const retry = await runCli(['run', file, '--retry-failed', 'ingest'], { env });
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stderr, /\[ingest\] retrying failed rows in 1 shard\(s\)/);
  const after = await sql(`SELECT status, count(*) AS n FROM read_parquet('${dir}/data/eng/ingest/*.parquet') GROUP BY status`);
  assert.deepEqual(after, [{ status: 'ok', n: 22 }]);
  const derived = await sql(`SELECT count(*) AS n FROM read_parquet('${dir}/data/eng/doubled/*.parquet') WHERE area2 IS NOT NULL`);
  assert.equal(derived[0]!.n, 22);
});

test('a live lock stops a second run of the same rank; a stale one is taken over', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'eng', 'name: eng\nnodes:\n  numbers:\n    uses: rows\n    with: {count: 10}\n');
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const lockDir = path.join(dir, 'data/eng/numbers/_lock');
  await fs.mkdir(lockDir, { recursive: true });
  const os = await import('node:os');
  const lock = (pid: number) => JSON.stringify({ pid, host: os.hostname(), since: new Date().toISOString(), what: 'test' });

  await fs.writeFile(path.join(lockDir, 'rank-0-of-1'), lock(process.pid));
  const held = await runCli(['run', file], { env });
  assert.equal(held.code, 1);
  assert.match(held.stderr, new RegExp(`node numbers \\(rank 0 of 1\\) is locked by process ${process.pid}`));

  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  await fs.writeFile(path.join(lockDir, 'rank-0-of-1'), lock(dead));
  const taken = await runCli(['run', file], { env });
  assert.equal(taken.code, 0, taken.stderr);
  assert.ok(!existsSync(path.join(lockDir, 'rank-0-of-1')));
});

test('a forced re-run removes only what the node wrote: its parts and temporaries, not a user file or a part past its shards', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'wipe', 'name: wipe\nsettings: {shards: 2}\nnodes:\n  numbers: {uses: rows, with: {count: 6}}\n');
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const node = path.join(dir, 'data/wipe/numbers');
  const theirs = ['notes.tmp', 'mydir.tmp/inside.txt', 'part-00042.parquet'];
  for (const f of theirs) {
    await fs.mkdir(path.dirname(path.join(node, f)), { recursive: true });
    await fs.writeFile(path.join(node, f), 'a user file');
  }
  await fs.writeFile(path.join(node, 'part-00001.parquet.tmp'), 'a leftover of this node');
  await fs.writeFile(path.join(node, '_manifest.json.tmp-12345'), 'a leftover of this node');
  assert.equal((await runCli(['run', file, '--force', 'numbers'], { env })).code, 0);
  for (const f of theirs) assert.ok(existsSync(path.join(node, f)), `${f} was removed`);
  assert.ok(!existsSync(path.join(node, 'part-00001.parquet.tmp')) && !existsSync(path.join(node, '_manifest.json.tmp-12345')));
  assert.equal(Number((await sql(`SELECT count(*) AS n FROM read_parquet('${node}/part-0000[01].parquet')`))[0]!.n), 6);
});
