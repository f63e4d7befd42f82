// A run killed while sampling loses at most the setting it was in: every finished setting is read
// back from the node's cache, and the committed samples equal an uninterrupted run's, byte for byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { killRun, runCli, startCli, tmpDir, writePipeline } from './helpers.ts';

const yaml = `name: sr
settings: {shards: 1, seed: 5}
nodes:
  synth: {uses: synth, with: {count: 48}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  bins: {uses: bins, needs: [score_colourfulness], with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score}}}
  train:
    uses: train
    needs: [synth, bins]
    with: {image: synth.image, caption_real: synth.caption, targets: {colourfulness: bins.colourfulness_target}, steps: 2, batch_size: 8, warmup_steps: 1, checkpoint_every: 2, eval_samples: 0}
  sample:
    uses: sample
    needs: [train]
    with:
      model: train
      prompts_file: configs/geneval-mini.jsonl
      prompts_every: 6
      steps: 8 # long enough that the kill lands before the last setting is done
      batch_size: 8
      settings: [{name: first, preset: all, guidance: 2}, {name: second, preset: none}, {name: third, preset: all, guidance: 5}]
`;

test('a run killed after a sample setting finished resumes from it, and commits the same bytes', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'sr', yaml);
  const clean = path.join(dir, 'clean');
  const a = await runCli(['run', file], { env: { MIRO_DATA_ROOT: clean } });
  assert.equal(a.code, 0, a.stderr);

  const killed = path.join(dir, 'killed');
  const env = { MIRO_DATA_ROOT: killed };
  assert.equal(
    (await runCli(['run', file, '--only', 'synth', '--only', 'score_colourfulness', '--only', 'bins', '--only', 'train'], { env })).code,
    0,
  );
  const cache = path.join(killed, 'sr/sample/_cache');
  const { child, done } = startCli(['run', file, '--only', 'sample', '--jobs', '1'], { env });
  // The committed cache file, not its .tmp: the setting counts as finished once it is renamed into place.
  while (!(existsSync(cache) && readdirSync(cache).some((f) => /^sample-first-.*\.parquet$/.test(f)))) {
    if (child.exitCode !== null) assert.fail(`sampling ended before the kill: ${(await done).stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  killRun(child);
  await done;
  assert.ok(!existsSync(path.join(killed, 'sr/sample/_done/00000.json')), 'the sample node committed before the kill');
  const resumed = await runCli(['run', file], { env });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /setting first: \d+ samples read back from an interrupted run/);
  assert.doesNotMatch(resumed.stderr, /setting third: \d+ samples read back/);
  const part = (root: string) => readFileSync(path.join(root, 'sr/sample/part-00000.parquet'));
  assert.ok(part(clean).equals(part(killed)), 'the resumed samples differ from an uninterrupted run');
});
