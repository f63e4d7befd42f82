// Request caches never lie: --retry-failed asks again for cached failures, an edited sidecar
// caption is asked again (and only it), and a line torn by a crash is dropped, never merged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { startFakeVlm } from './fake-vlm-server.ts';
import { RequestCache } from '../src/vlm/client.ts';
import { captionPipelineYaml, runCli, sql, tmpDir, writeImageFolder, writePipeline } from './helpers.ts';

const pipeline = (images: string, server: string) => captionPipelineYaml('cap', images, server, ', retries: 0', 'm');

const idOf = async (file: string) =>
  createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex')
    .slice(0, 16);

test('--retry-failed asks again for rows whose cached answer was a failure', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 6);
  const id = await idOf(path.join(images, '00000/000002.png'));
  const vlm = await startFakeVlm({ plan: { [id]: ['notags', 'ok'] } });
  try {
    const file = await writePipeline(dir, 'cap', pipeline(images, vlm.url));
    const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
    assert.equal((await runCli(['run', file], { env })).code, 0);
    const status = async () =>
      (await sql(`SELECT status FROM read_parquet('${dir}/data/cap/caption/*.parquet') WHERE id = '${id}'`))[0]!.status;
    assert.equal(await status(), 'no_tags');
    const res = await runCli(['run', file, '--retry-failed', 'caption'], { env });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(vlm.requests.get(id), 2, 'the failed row was asked again');
    assert.equal(await status(), 'ok');
    assert.equal(vlm.total(), 7, 'no other row was asked again');
  } finally {
    await vlm.close();
  }
});

test('an edited sidecar caption re-captions that image and only it', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 6);
  const vlm = await startFakeVlm({});
  try {
    const file = await writePipeline(dir, 'cap', pipeline(images, vlm.url));
    const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
    assert.equal((await runCli(['run', file], { env })).code, 0);
    assert.equal(vlm.total(), 6);
    await fs.writeFile(path.join(images, '00000/000004.txt'), 'a different alt text');
    const res = await runCli(['run', file], { env });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(vlm.total(), 7, 'one more request');
    assert.equal(vlm.requests.get(await idOf(path.join(images, '00000/000004.png'))), 2);
    const [row] = await sql(`SELECT i.caption FROM read_parquet('${dir}/data/cap/ingest/*.parquet') i WHERE i.caption LIKE 'a different%'`);
    assert.equal(row!.caption, 'a different alt text');
  } finally {
    await vlm.close();
  }
});

test('a cache line torn by a crash is dropped and cut off, so the next answer is not merged into it', async () => {
  const file = path.join(tmpDir(), 'cache.jsonl');
  const whole = JSON.stringify({ key: 'k1', id: 'a', ok: true, caption: 'one' });
  await fs.writeFile(file, `${whole}\n{"key":"k2","id":"b","ok":tr`);
  const cache = await RequestCache.open(file);
  assert.equal(cache.size, 1);
  await cache.put({ key: 'k3', id: 'c', ok: true, caption: 'three' });
  await cache.close();
  const lines = (await fs.readFile(file, 'utf8')).trimEnd().split('\n');
  assert.equal(lines.length, 2);
  for (const l of lines) JSON.parse(l);
  const again = await RequestCache.open(file);
  assert.equal(again.get('k3')?.caption, 'three');
  assert.equal(again.get('k1')?.caption, 'one');
  await again.close();
});
