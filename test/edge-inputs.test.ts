// Inputs that could hang or clobber: a FIFO named like an image is refused as a row, a TIFF is
// re-encoded for a VLM server, and a release never writes over a file or races another release.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import sharp from 'sharp';
import { startFakeVlm } from './fake-vlm-server.ts';
import { binnedPipelineYaml, captionPipelineYaml, runCli, sql, tmpDir, writeImageFolder, writePipeline } from './helpers.ts';

const pipeline = (images: string) => binnedPipelineYaml('edge', images);

test('a FIFO named *.png becomes a not_a_file row instead of hanging ingest', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 6);
  execFileSync('mkfifo', [path.join(images, 'pipe.png')]);
  const file = await writePipeline(dir, 'edge', pipeline(images));
  const res = await runCli(['run', file, '--only', 'ingest'], { env: { MIRO_DATA_ROOT: path.join(dir, 'data') } });
  assert.equal(res.code, 0, res.stderr);
  const rows = await sql(`SELECT status, error FROM read_parquet('${dir}/data/edge/ingest/*.parquet') WHERE status <> 'ok'`);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.status, 'not_a_file');
  assert.match(String(rows[0]!.error), /pipe\.png: not a regular file \(a FIFO\); refused/);
});

test('a FIFO named as a sidecar caption (x.txt) is refused by name instead of hanging ingest', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 3);
  const sidecar = path.join(images, '00000', '000001.txt'); // writeImageFolder's second image
  await fs.rm(sidecar, { force: true });
  execFileSync('mkfifo', [sidecar]);
  const file = await writePipeline(dir, 'edge', pipeline(images));
  const res = await runCli(['run', file, '--only', 'ingest'], { env: { MIRO_DATA_ROOT: path.join(dir, 'data') } });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /\.txt: a sidecar caption must be a regular file \(this is a FIFO\)/);
});

test('a release never writes over a file, and two releases to one folder never both succeed', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 8);
  const file = await writePipeline(dir, 'edge', pipeline(images));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const taken = path.join(dir, 'taken');
  await fs.writeFile(taken, 'not a release');
  const onFile = await runCli(['release', file, '--out', taken, '--license', 'cc-by-4.0'], { env });
  assert.equal(onFile.code, 1);
  assert.match(onFile.stderr, /taken exists and is a file; releases are never written over files/);
  assert.doesNotMatch(onFile.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(await fs.readFile(taken, 'utf8'), 'not a release');

  const out = path.join(dir, 'rel');
  const both = await Promise.all([
    runCli(['release', file, '--out', out, '--license', 'cc-by-4.0'], { env }),
    runCli(['release', file, '--out', out, '--license', 'cc-by-4.0'], { env }),
  ]);
  assert.deepEqual(both.map((r) => r.code).sort(), [0, 1], both.map((r) => r.stderr).join('\n'));
  assert.match(both.find((r) => r.code === 1)!.stderr, /release to .* is locked by process|exists and is not empty/);
  assert.equal((await runCli(['verify', out])).code, 0);
});

test('a TIFF goes to a VLM server as PNG, not as application/octet-stream', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 2);
  await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .tiff()
    .toFile(path.join(images, 'photo.tif'));
  const vlm = await startFakeVlm({});
  try {
    const file = await writePipeline(
      dir,
      'tif',
      captionPipelineYaml('tif', images, vlm.url, '', 'm').replace('alt_text: ingest.caption, ', ''),
    );
    const res = await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(dir, 'data') } });
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual([...new Set(vlm.mimes)].sort(), ['image/png']);
    assert.equal(vlm.mimes.length, 3);
    const rows = await sql(`SELECT count(*) AS n FROM read_parquet('${dir}/data/tif/caption/*.parquet') WHERE status = 'ok'`);
    assert.equal(Number(rows[0]!.n), 3);
  } finally {
    await vlm.close();
  }
});
