// A password inside a server URL is sent as an Authorization header and appears nowhere in what
// the tool writes or prints: error rows, manifests, markers, caches, logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { startFakeVlm } from './fake-vlm-server.ts';
import { redactUrl } from '../src/util/fetch.ts';
import { captionPipelineYaml, imageIds, runCli, sql, tmpDir, writeImageFolder, writePipeline } from './helpers.ts';

const SECRET = 's3cretPW';

test('redactUrl hides the user and password of every URL in a text', () => {
  assert.equal(redactUrl('see http://bob:pw@host:8000/v1 and https://x@y.org/a'), 'see http://***@host:8000/v1 and https://***@y.org/a');
  assert.equal(redactUrl('http://host/v1?a=b@c'), 'http://host/v1?a=b@c');
});

test('a password in a server URL appears nowhere in the outputs', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 5);
  const [failing] = await imageIds(images);
  const vlm = await startFakeVlm({ plan: { [failing!]: ['500'] } });
  try {
    const server = vlm.url.replace('://', `://alice:${SECRET}@`);
    const file = await writePipeline(dir, 'sec', captionPipelineYaml('sec', images, server, ', retries: 0', 'm'));
    const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
    const run = await runCli(['run', file], { env });
    assert.equal(run.code, 0, run.stderr);
    const rows = await sql(`SELECT * FROM read_parquet('${dir}/data/sec/caption/*.parquet') ORDER BY id`);
    assert.equal(rows.filter((r) => r.status === 'ok').length, 4, 'the credentials reached the server as a header');
    const errorRow = rows.find((r) => r.id === failing)!;
    assert.match(String(errorRow.error), /http:\/\/\*\*\*@127\.0\.0\.1:\d+\/v1\/chat\/completions: HTTP 500/);
    const texts = [run.stdout, run.stderr, JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? String(v) : v))];
    const walk = async (d: string): Promise<void> => {
      for (const e of await fs.readdir(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (!p.endsWith('.parquet')) texts.push(await fs.readFile(p, 'utf8'));
      }
    };
    await walk(path.join(dir, 'data'));
    for (const t of texts)
      assert.ok(!t.includes(SECRET), `the password leaked: ${t.slice(Math.max(0, t.indexOf(SECRET) - 80), t.indexOf(SECRET) + 20)}`);
    const status = await runCli(['status', file], { env });
    assert.ok(!status.stdout.includes(SECRET) && !status.stderr.includes(SECRET));
  } finally {
    await vlm.close();
  }
});
