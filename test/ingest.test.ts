// Ingest from manifests (CSV, JSONL, Parquet) of local paths and of http URLs served by a real
// local server that fails some requests, and the duplicate-content rule for ids.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { runCli, tmpDir, writeImage, writePipeline, sql } from './helpers.ts';

async function images(dir: string, n: number): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = path.join(dir, `img${i}.png`);
    await writeImage(f, i + 1);
    files.push(f);
  }
  return files;
}

test('CSV, JSONL and Parquet manifests of relative paths give the same rows; duplicates get a suffix', async () => {
  const dir = tmpDir();
  const files = await images(path.join(dir, 'pics'), 5);
  await fs.copyFile(files[0]!, path.join(dir, 'pics/copy-of-0.png'));
  const entries = [
    ...files.map((f, i) => ({ path: path.relative(dir, f), caption: `caption ${i}` })),
    { path: 'pics/copy-of-0.png', caption: 'the same bytes again' },
  ];
  await fs.writeFile(path.join(dir, 'm.csv'), 'path,caption\n' + entries.map((e) => `${e.path},${e.caption}`).join('\n') + '\n');
  await fs.writeFile(path.join(dir, 'm.jsonl'), entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
  await sql(`COPY (SELECT * FROM read_csv('${dir}/m.csv')) TO '${dir}/m.parquet' (FORMAT parquet)`);
  const ids: string[][] = [];
  for (const manifest of ['m.csv', 'm.jsonl', 'm.parquet']) {
    const file = await writePipeline(
      dir,
      manifest.replace('.', '_'),
      `name: ${manifest.replace('.', '_')}\nsettings: {shards: 2}\nnodes:\n  ingest: {uses: ingest, with: {path: ${JSON.stringify(path.join(dir, manifest))}}}\n`,
    );
    const res = await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(dir, 'data') } });
    assert.equal(res.code, 0, res.stderr);
    const rows = await sql(
      `SELECT id, caption, status FROM read_parquet('${dir}/data/${manifest.replace('.', '_')}/ingest/*.parquet') ORDER BY id`,
    );
    assert.equal(rows.length, 6);
    assert.ok(rows.every((r) => r.status === 'ok'));
    ids.push(rows.map((r) => String(r.id)));
  }
  assert.deepEqual(ids[1], ids[0]);
  assert.deepEqual(ids[2], ids[0]);
  const dup = ids[0]!.filter((id) => id.endsWith('-2'));
  assert.equal(dup.length, 1, 'the second copy of the same bytes is kept with a -2 suffix');
  assert.ok(ids[0]!.includes(dup[0]!.slice(0, -2)));
});

test('URLs are fetched with retries; a URL that keeps failing becomes a fetch_error row', async () => {
  const dir = tmpDir();
  const files = await images(path.join(dir, 'pics'), 4);
  let flaky = 0;
  const server = http.createServer((req, res) => {
    const i = Number(/\/img(\d+)\.png/.exec(req.url!)?.[1]);
    if (i === 1 && flaky++ === 0) return void res.writeHead(503).end('busy'); // fails once, then works
    if (i === 2) return void res.writeHead(500).end('always broken');
    if (i === 3) return void res.writeHead(404).end('gone');
    res.writeHead(200, { 'content-type': 'image/png' }).end(readFileSync(files[i]!));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await fs.writeFile(
      path.join(dir, 'urls.jsonl'),
      files.map((_, i) => JSON.stringify({ path: `${base}/img${i}.png`, caption: `remote ${i}` })).join('\n') + '\n',
    );
    const file = await writePipeline(
      dir,
      'urls',
      `name: urls\nsettings: {shards: 1}\nnodes:\n  ingest: {uses: ingest, with: {path: ${JSON.stringify(path.join(dir, 'urls.jsonl'))}, retries: 2, timeout_ms: 2000}}\n`,
    );
    const res = await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(dir, 'data') } });
    assert.equal(res.code, 0, res.stderr);
    const rows = await sql(`SELECT source, status, error, width FROM read_parquet('${dir}/data/urls/ingest/*.parquet') ORDER BY source`);
    assert.deepEqual(
      rows.map((r) => r.status),
      ['ok', 'ok', 'fetch_error', 'fetch_error'],
    );
    assert.equal(rows[1]!.width, 24);
    assert.match(String(rows[2]!.error), /img2\.png: HTTP 500 always broken/);
    assert.match(String(rows[3]!.error), /img3\.png: HTTP 404 gone/);
  } finally {
    server.close();
  }
});

test('an image above the pixel limit is a decode_error row in a scorer, naming its size; the others score', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await fs.mkdir(images, { recursive: true });
  await writeImage(path.join(images, 'small.png'), 1);
  // 7000 x 6000 = 42M pixels of one colour: a few hundred KB as PNG, about 1.1 GB in a scorer.
  const { default: sharp } = await import('sharp');
  await sharp({ create: { width: 7000, height: 6000, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .png()
    .toFile(path.join(images, 'huge.png'));
  const file = await writePipeline(
    dir,
    'px',
    `name: px
settings: {shards: 1}
nodes:
  ingest: {uses: ingest, with: {path: ${images}}}
  score: {uses: score, needs: [ingest], with: {scorer: colourfulness, image: ingest.image}}
`,
  );
  const root = path.join(dir, 'data');
  const r = await runCli(['run', file], { env: { MIRO_DATA_ROOT: root } });
  assert.equal(r.code, 0, r.stderr);
  const rows = await sql(
    `SELECT i.source, s.status, s.error, s.score FROM read_parquet('${root}/px/score/*.parquet') s JOIN read_parquet('${root}/px/ingest/*.parquet') i USING (id) ORDER BY i.source`,
  );
  assert.equal(rows.length, 2);
  const [huge, small] = rows;
  assert.match(String(huge!.source), /huge\.png$/);
  assert.equal(huge!.status, 'decode_error');
  assert.match(String(huge!.error), /7000x6000 = 42,000,000 pixels, above the limit of 40,000,000/);
  assert.equal(small!.status, 'ok');
  assert.ok(Number.isFinite(small!.score));
});
