// Ingest reads webdataset tar shards (img2dataset's and the official code's layout): a sample is
// the members sharing a key; its caption is the txt member or the json's "caption"; an image that
// does not decode is a decode_error row, as in a folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { runCli, sql, tmpDir, writeImage, writePipeline } from './helpers.ts';
import { TarWriter } from '../src/util/tar.ts';

test('ingest reads webdataset tar shards: keys, txt and json captions, a decode_error row, ids by content', async () => {
  const dir = tmpDir();
  const imgs = path.join(dir, 'src');
  for (let i = 0; i < 4; i++) await writeImage(path.join(imgs, `${i}.png`), i + 1, 20);
  const png = (i: number) => readFileSync(path.join(imgs, `${i}.png`));
  const shards = path.join(dir, 'shards');
  await fs.mkdir(shards, { recursive: true });
  const a = await TarWriter.create(path.join(shards, '00000.tar'));
  await a.add('000000.png', png(0));
  await a.add('000000.txt', Buffer.from('a red thing\n'));
  await a.add('000001.png', png(1));
  await a.add('000001.json', Buffer.from(JSON.stringify({ caption: 'from the json', key: '000001' })));
  await a.add('000002.txt', Buffer.from('a caption without an image'));
  await a.close();
  const b = await TarWriter.create(path.join(shards, '00001.tar'));
  await b.add('sub/000003.png', png(2));
  await b.add('sub/000003.txt', Buffer.from('nested key'));
  await b.add('000004.png', Buffer.from('not a png at all'));
  await b.close();
  const file = await writePipeline(
    dir,
    'wds',
    `name: wds\nsettings: {shards: 2}\nnodes:\n  ingest: {uses: ingest, with: {path: ${JSON.stringify(shards)}}}\n`,
  );
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const run = await runCli(['run', file], { env });
  assert.equal(run.code, 0, run.stderr);
  const rows = await sql(
    `SELECT id, source, caption, status, error, width FROM read_parquet('${dir}/data/wds/ingest/*.parquet') ORDER BY source`,
  );
  const bySource = new Map(rows.map((r) => [String(r.source).slice(shards.length + 1), r]));
  assert.deepEqual([...bySource.keys()].sort(), [
    '00000.tar#000000.png',
    '00000.tar#000001.png',
    '00001.tar#000004.png',
    '00001.tar#sub/000003.png',
  ]);
  assert.equal(bySource.get('00000.tar#000000.png')!.caption, 'a red thing');
  assert.equal(bySource.get('00000.tar#000001.png')!.caption, 'from the json');
  assert.equal(bySource.get('00001.tar#sub/000003.png')!.caption, 'nested key');
  assert.equal(bySource.get('00000.tar#000000.png')!.id, createHash('sha256').update(png(0)).digest('hex').slice(0, 16));
  assert.equal(bySource.get('00000.tar#000000.png')!.width, 20);
  const bad = bySource.get('00001.tar#000004.png')!;
  assert.equal(bad.status, 'decode_error');
  assert.match(String(bad.error), /00001\.tar#000004\.png: /);
  const again = await runCli(['run', file], { env });
  assert.match(again.stderr, /done: 0 node\(s\) ran/);
});
