// Committed data that changes on disk is found: every single-byte flip in a committed part is
// reported by `status --verify`, stops `release`, and `run --verify` re-makes the damaged shard.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { binnedPipelineYaml, runCli, tmpDir, writeImageFolder, writePipeline } from './helpers.ts';
import { NodeLayout } from '../src/store/layout.ts';
import { readMarkers, writeMarker, type ShardMarker } from '../src/store/markers.ts';

test('a flipped byte in any committed part is reported, stops a release, and is re-made by run --verify', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 16);
  const file = await writePipeline(dir, 'flip', binnedPipelineYaml('flip', images));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  assert.equal((await runCli(['run', file], { env })).code, 0);
  assert.equal((await runCli(['status', file, '--verify'], { env })).code, 0);

  const parts = ['ingest/part-00000.parquet', 'ingest/part-00001.parquet', 'score_sharpness/part-00001.parquet', 'bins/part-00000.parquet'];
  for (const part of parts) {
    const full = path.join(dir, 'data/flip', part);
    const original = await fs.readFile(full);
    for (const at of [4, Math.floor(original.length / 2), original.length - 9]) {
      const bytes = Buffer.from(original);
      bytes[at] = bytes[at]! ^ 0x01;
      await fs.writeFile(full, bytes);
      const [node, shard] = [part.split('/')[0]!, Number(/part-(\d+)/.exec(part)![1])];
      const status = await runCli(['status', file, '--verify'], { env });
      assert.equal(status.code, 1, `${part} byte ${at}`);
      assert.match(status.stdout, new RegExp(`DAMAGED ${node} shard ${shard}: shard file corrupted \\(sha256`), `${part} byte ${at}`);
      const release = await runCli(['release', file, '--out', path.join(dir, `rel-${node}-${at}`), '--license', 'cc-by-4.0'], { env });
      assert.notEqual(release.code, 0, `release went ahead with ${part} flipped at ${at}`);
      assert.match(release.stderr, /shard file corrupted/);
      await fs.writeFile(full, original);
    }
  }

  // One command re-makes a damaged shard, byte for byte.
  const full = path.join(dir, 'data/flip/score_sharpness/part-00000.parquet');
  const original = await fs.readFile(full);
  const bytes = Buffer.from(original);
  bytes[100] = bytes[100]! ^ 0x01;
  await fs.writeFile(full, bytes);
  const remade = await runCli(['run', file, '--verify'], { env });
  assert.equal(remade.code, 0, remade.stderr);
  assert.deepEqual(await fs.readFile(full), original);
  assert.equal((await runCli(['status', file, '--verify'], { env })).code, 0);

  // Without --verify, a truncated part is still caught by its size.
  await fs.writeFile(full, original.subarray(0, original.length - 10));
  const cheap = await runCli(['status', file], { env });
  assert.equal(cheap.code, 1);
  assert.match(cheap.stdout, /DAMAGED score_sharpness shard 0: shard file corrupted \(\d+ bytes, its marker says \d+\)/);
});

test('run --verify --jobs 2 re-makes a flipped shard of a node that runs in a child process (train)', async () => {
  const dir = tmpDir();
  const yaml = `name: flipchild
settings: {shards: 1, seed: 3}
nodes:
  synth: {uses: synth, with: {count: 40}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  bins: {uses: bins, needs: [score_colourfulness], with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score}}}
  train:
    uses: train
    needs: [synth, bins]
    with: {image: synth.image, caption_real: synth.caption, targets: {colourfulness: bins.colourfulness_target}, steps: 2, batch_size: 8, warmup_steps: 1, checkpoint_every: 2, eval_samples: 0}
`;
  const file = await writePipeline(dir, 'flipchild', yaml);
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const first = await runCli(['run', file, '--jobs', '2'], { env });
  assert.equal(first.code, 0, first.stderr);
  const part = path.join(dir, 'data/flipchild/train/part-00000.parquet');
  const bytes = Buffer.from(await fs.readFile(part));
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x01;
  await fs.writeFile(part, bytes);
  assert.equal((await runCli(['status', file, '--verify'], { env })).code, 1);
  const remade = await runCli(['run', file, '--verify', '--jobs', '2'], { env });
  assert.equal(remade.code, 0, remade.stderr);
  const status = await runCli(['status', file, '--verify'], { env });
  assert.equal(status.code, 0, `the train shard is still damaged after run --verify --jobs 2:\n${status.stdout}`);
});

test('an unreadable marker makes its shard pending: status, sql and run go on, and run re-makes it', async () => {
  const dir = tmpDir();
  const file = await writePipeline(
    dir,
    'badmarker',
    'name: badmarker\nsettings: {shards: 3}\nnodes:\n  numbers: {uses: rows, with: {count: 9}}\n',
  );
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const marker = path.join(dir, 'data/badmarker/numbers/_done/00001.json');
  await fs.writeFile(marker, '{"rows": 3, "sha2');
  const status = await runCli(['status', file], { env });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stderr, /unreadable marker .*00001\.json .*shard 1 counts as not committed/);
  assert.match(status.stdout, /numbers .*2\/3/);
  const count = await runCli(['sql', file, 'SELECT count(*) AS n FROM numbers', '--format', 'csv'], { env });
  assert.equal(count.stdout.trim(), 'n\n6');
  assert.equal((await runCli(['run', file], { env })).code, 0);
  assert.equal((await runCli(['status', file, '--verify'], { env })).code, 0);
  assert.equal((await runCli(['sql', file, 'SELECT count(*) AS n FROM numbers', '--format', 'csv'], { env })).stdout.trim(), 'n\n9');
});

test('a flipped byte in a node table (the bins edges) is found by status --verify and release, and run --verify re-makes it', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 24);
  const file = await writePipeline(dir, 'flipt', binnedPipelineYaml('flipt', images));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const tables = path.join(dir, 'data/flipt/bins/_tables/bin_edges');
  const part = path.join(
    tables,
    (await fs.readdir(tables)).find((f) => f.endsWith('.parquet'))!,
  );
  const original = await fs.readFile(part);
  const bytes = Buffer.from(original);
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x01;
  await fs.writeFile(part, bytes);
  const status = await runCli(['status', file, '--verify'], { env });
  assert.equal(status.code, 1);
  assert.match(status.stdout, /table bin_edges corrupted \(sha256 differs from the manifest\)/);
  const release = await runCli(['release', file, '--out', path.join(dir, 'rel'), '--license', 'cc-by-4.0'], { env });
  assert.equal(release.code, 1);
  assert.match(release.stderr, /node bins, shard \d+: table bin_edges corrupted/);
  assert.equal((await runCli(['run', file, '--verify'], { env })).code, 0);
  assert.deepEqual(await fs.readFile(part), original);
  assert.equal((await runCli(['status', file, '--verify'], { env })).code, 0);
});

test('_markers.json is checked against _done/: a marker edited in place, or damage to the index itself, is read from _done/', async () => {
  const dir = tmpDir();
  const layout = new NodeLayout(path.join(dir, 'node'));
  const marker = (shard: number, rows: number): ShardMarker =>
    ({ shard, rows, sha256: 'a'.repeat(64), fingerprint: 'f', inputs: 'i', bytes: 1, written: 'now' }) as unknown as ShardMarker;
  for (let s = 0; s < 64; s++) await writeMarker(layout, marker(s, 10));
  await readMarkers(layout, { indexNow: true });
  const indexFile = path.join(layout.dir, '_markers.json');
  assert.ok((await fs.stat(indexFile)).size > 0, 'the index was written');
  assert.equal((await readMarkers(layout)).get(7)!.rows, 10);

  // Shard 7's marker rewritten in place (the folder's mtime does not change): the index no longer answers for it.
  const dirMtime = (await fs.stat(layout.markerDir())).mtime;
  await fs.writeFile(layout.markerFile(7), JSON.stringify(marker(7, 99)));
  await fs.utimes(layout.markerDir(), dirMtime, dirMtime);
  assert.equal((await readMarkers(layout)).get(7)!.rows, 99);

  // The index rebuilt, then damaged itself (a marker's rows changed): its own hash no longer matches.
  await readMarkers(layout, { indexNow: true });
  const index = JSON.parse(await fs.readFile(indexFile, 'utf8'));
  index.markers.find((m: ShardMarker) => m.shard === 3).rows = 12345;
  await fs.writeFile(indexFile, JSON.stringify(index));
  assert.equal((await readMarkers(layout)).get(3)!.rows, 10);
});
