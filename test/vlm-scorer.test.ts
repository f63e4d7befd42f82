// VQAScore from a VLM server's log-probabilities, against a real HTTP server that speaks
// chat-completions with `logprobs` and injects faults.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startFakeVlm, yesProbability, type Fault } from './fake-vlm-server.ts';
import { imageIds, killAndResume, runCli, tmpDir, writeImageFolder, writePipeline, sql } from './helpers.ts';
import { loadVlmScorerConfig } from '../src/scorers/vlm.ts';

const QUESTION = 'Does this figure show "{caption}"? Please answer yes or no.';

function config(dir: string, url: string, concurrency = 4): string {
  const file = path.join(dir, 'vqascore-server.yaml');
  writeFileSync(
    file,
    `name: vqascore
kind: vqa-server
server: {url: ${JSON.stringify(url)}, model: fake-vlm, concurrency: ${concurrency}, timeout_ms: 2000, retries: 2}
question: '${QUESTION}'
yes_tokens: [Yes]
top_logprobs: 3
`,
  );
  return file;
}

function pipeline(images: string, scorerConfig: string, shards = 2): string {
  return `name: vqa
settings: {shards: ${shards}}
nodes:
  ingest: {uses: ingest, with: {path: ${JSON.stringify(images)}}}
  score_vqa:
    uses: score
    needs: [ingest]
    with: {scorer: ${JSON.stringify(`vlm:${scorerConfig}`)}, name: vqascore, image: ingest.image, caption: ingest.caption, batch_size: 4}
`;
}

test('VQAScore is P("Yes") from the server log-probabilities; faults end as retried rows or error rows', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 10);
  const ids = await imageIds(images);
  const plan: Record<string, Fault[]> = {
    [ids[0]!]: ['500', 'ok'],
    [ids[1]!]: ['429', 'ok'],
    [ids[2]!]: ['nologprobs'],
    [ids[3]!]: ['badjson'],
    [ids[4]!]: ['reset', 'ok'],
  };
  const vlm = await startFakeVlm({ plan });
  try {
    const file = await writePipeline(dir, 'vqa', pipeline(images, config(dir, vlm.url)));
    const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
    const res = await runCli(['run', file], { env });
    assert.equal(res.code, 0, res.stderr);
    const rows = await sql(
      `SELECT s.id, s.score, s.status, s.error, i.caption FROM read_parquet('${dir}/data/vqa/score_vqa/*.parquet') s JOIN read_parquet('${dir}/data/vqa/ingest/*.parquet') i USING (id) ORDER BY id`,
    );
    assert.deepEqual(
      rows.map((r) => r.id),
      ids,
      'no row lost or duplicated',
    );
    const byId = Object.fromEntries(rows.map((r) => [String(r.id), r]));
    assert.equal(byId[ids[2]!]!.status, 'no_logprobs');
    assert.match(String(byId[ids[2]!]!.error), /must support "logprobs"/);
    assert.equal(byId[ids[3]!]!.status, 'bad_response');
    for (const id of ids.filter((_, i) => i !== 2 && i !== 3)) {
      const row = byId[id]!;
      assert.equal(row.status, 'ok', `${id}: ${row.error}`);
      // Only the exact token "Yes" counts, not "yes".
      const expected = yesProbability(id, QUESTION.replace('{caption}', String(row.caption)));
      assert.ok(Math.abs((row.score as number) - expected) < 1e-12, `${id}: ${row.score} vs ${expected}`);
    }
    assert.equal(vlm.requests.get(ids[0]!), 2, 'a 500 is retried once, then succeeds');

    const again = await runCli(['run', file], { env });
    assert.equal(again.code, 0);
    // 10 first tries, one retry each for the 500, the 429 and the reset, two for the bad JSON.
    assert.equal(vlm.total(), 10 + 3 + 2, 'a second run asks nothing');
  } finally {
    await vlm.close();
  }
});

test('a scoring run killed mid-shard repeats no finished request when it resumes', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 30);
  const vlm = await startFakeVlm({ latencyMs: 60 });
  try {
    const file = await writePipeline(dir, 'vqa', pipeline(images, config(dir, vlm.url, 2), 1));
    const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
    const cacheFile = path.join(dir, 'data/vqa/score_vqa/_cache/shard-00000.jsonl');
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
      `SELECT count(*) AS n, count(DISTINCT id) AS ids, count(*) FILTER (WHERE status = 'ok') AS ok FROM read_parquet('${dir}/data/vqa/score_vqa/*.parquet')`,
    );
    assert.deepEqual(rows, [{ n: 30, ids: 30, ok: 30 }]);
  } finally {
    await vlm.close();
  }
});

test('a vqa-server config with a wrong kind or no server URL is refused, naming the file and key', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'kind: vqa\nserver: {url: http://x/v1, model: m}\n');
  assert.throws(() => loadVlmScorerConfig(file), /bad\.yaml: kind: a vlm: scorer needs kind: vqa-server/);
  writeFileSync(file, 'kind: vqa-server\nserver: {model: m}\n');
  assert.throws(() => loadVlmScorerConfig(file), /bad\.yaml: server\.url: expected a non-empty string/);
  writeFileSync(file, 'kind: vqa-server\nserver: {url: http://x/v1, model: m}\nquestion: Is it nice?\n');
  assert.throws(() => loadVlmScorerConfig(file), /bad\.yaml: question: must contain \{caption\}/);
});
