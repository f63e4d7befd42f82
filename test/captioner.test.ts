// The VLM captioner against a real HTTP server that speaks chat-completions and injects faults.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { startFakeVlm, type Fault } from './fake-vlm-server.ts';
import { captionPipelineYaml, imageIds, killAndResume, runCli, tmpDir, writeImageFolder, writePipeline, sql, ROOT } from './helpers.ts';

const pipeline = (images: string, server: string, extra = '') => captionPipelineYaml('cap', images, server, extra);

test('every row ends ok or as an error row through 500s, 429s, timeouts, tagless replies, bad JSON and resets', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 12);
  const ids = await imageIds(images);
  const plan: Record<string, Fault[]> = {
    [ids[0]!]: ['500', 'ok'],
    [ids[1]!]: ['429', 'ok'],
    [ids[2]!]: ['timeout', 'ok'],
    [ids[3]!]: ['notags'],
    [ids[4]!]: ['badjson'],
    [ids[5]!]: ['reset', 'ok'],
    [ids[6]!]: ['500'],
  };
  const vlm = await startFakeVlm({ plan });
  try {
    const file = await writePipeline(dir, 'cap', pipeline(images, vlm.url, ', timeout_ms: 400, retries: 2, concurrency: 4'));
    const res = await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(dir, 'data') } });
    assert.equal(res.code, 0, res.stderr);
    const rows = await sql(
      `SELECT id, status, caption, server_model, prompt_sha256, captioner FROM read_parquet('${dir}/data/cap/caption/*.parquet') ORDER BY id`,
    );
    assert.deepEqual(
      rows.map((r) => r.id),
      ids,
      'no row lost or duplicated',
    );
    const status = Object.fromEntries(rows.map((r) => [r.id, r.status]));
    assert.equal(status[ids[3]!], 'no_tags');
    assert.equal(status[ids[4]!], 'bad_response');
    assert.equal(status[ids[6]!], 'http_500');
    for (const i of [0, 1, 2, 5, 7, 8, 9, 10, 11]) assert.equal(status[ids[i]!], 'ok', `row ${i}`);
    const ok = rows.find((r) => r.id === ids[0])!;
    assert.equal(ok.caption, `A test image ${ids[0]}.`);
    assert.equal(ok.server_model, 'fake-vlm-1');
    assert.equal(ok.captioner, 'google/gemma-3-12b-it');
    assert.equal(
      ok.prompt_sha256,
      createHash('sha256')
        .update(readFileSync(path.join(ROOT, 'configs/prompts/long.txt')))
        .digest('hex'),
    );
    assert.equal(vlm.requests.get(ids[6]!), 3, 'a persistent 500 is tried 1 + retries times');
    assert.equal(vlm.requests.get(ids[3]!), 1, 'a reply without tags is final, not retried');
    const errors = await sql(`SELECT error FROM read_parquet('${dir}/data/cap/caption/*.parquet') WHERE id = '${ids[6]}'`);
    assert.match(String(errors[0]!.error), /HTTP 500 internal error/);
  } finally {
    await vlm.close();
  }
});

test('a run killed mid-shard repeats no finished request when it resumes', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 30);
  const vlm = await startFakeVlm({ latencyMs: 60 });
  try {
    const file = await writePipeline(dir, 'cap', pipeline(images, vlm.url, ', concurrency: 2'));
    const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
    const cacheFile = path.join(dir, 'data/cap/caption/_cache/shard-00000.jsonl');
    const { cached, askedAgain, resumed } = await killAndResume({
      file,
      env,
      requests: vlm.requests,
      total: vlm.total,
      cacheFile,
      killAfter: 12,
    });
    assert.ok(cached.size >= 8 && cached.size < 30, `cached at the kill: ${cached.size}`);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(askedAgain, [], 'finished requests were sent again');
    const rows = await sql(
      `SELECT count(*) AS n, count(DISTINCT id) AS ids, count(*) FILTER (WHERE status = 'ok') AS ok FROM read_parquet('${dir}/data/cap/caption/*.parquet')`,
    );
    assert.deepEqual(rows, [{ n: 30, ids: 30, ok: 30 }]);
  } finally {
    await vlm.close();
  }
});
