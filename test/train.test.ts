// Training: a run killed with SIGKILL resumes from its last checkpoint and reproduces the
// uninterrupted run's loss curve and weights; a loaded checkpoint gives the same samples.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { killAtCheckpointAndResume, runCli, tmpDir, writePipeline, sql } from './helpers.ts';
import { loadTf } from '../src/model/backend.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { sampleImages } from '../src/model/sampler.ts';
import { encodePng } from '../src/util/image.ts';
import type { ModelConfig } from '../src/model/config.ts';

const yaml = `name: tr
settings: {shards: 2, seed: 3}
nodes:
  synth: {uses: synth, with: {count: 96}}
  caption: {uses: caption, needs: [synth], with: {captioner: scene, scene: synth.scene}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  score_objects: {uses: score, needs: [synth], with: {scorer: objects, image: synth.image, caption: synth.caption}}
  bins:
    uses: bins
    needs: [score_colourfulness, score_objects]
    with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score, objects: score_objects.score}}
  train:
    uses: train
    needs: [synth, caption, bins]
    with:
      image: synth.image
      caption_real: synth.caption
      caption_synthetic: caption.caption
      targets: {colourfulness: bins.colourfulness_target, objects: bins.objects_target}
      steps: 12
      batch_size: 8
      warmup_steps: 2
      checkpoint_every: 3
      keep_checkpoints: 5
      eval_samples: 0
  sample:
    uses: sample
    needs: [train]
    with: {model: train, prompts_file: configs/geneval-mini.jsonl, prompts_every: 60, steps: 3, settings: [{name: all, preset: all, guidance: 2}]}
`;

test('kill-and-resume training reproduces the uninterrupted loss curve and weights; a checkpoint gives the same samples', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'tr', yaml);
  const clean = path.join(dir, 'clean');
  const killed = path.join(dir, 'killed');
  const a = await runCli(['run', file], { env: { MIRO_DATA_ROOT: clean } });
  assert.equal(a.code, 0, a.stderr);

  const b = await killAtCheckpointAndResume(
    file,
    killed,
    ['synth', 'caption', 'score_colourfulness', 'score_objects', 'bins', 'train'],
    'tr/train/_checkpoints/step-0000006/state.json',
    'tr/train',
  );
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /resumed from .*step-00000(06|09)/);

  const curve = async (root: string) =>
    sql(`SELECT step, loss, lr, grad_norm FROM read_parquet('${root}/tr/train/*.parquet') ORDER BY step`);
  const [ca, cb] = [await curve(clean), await curve(killed)];
  assert.equal(ca.length, 12);
  assert.deepEqual(cb, ca);
  const ema = (root: string) => readFileSync(path.join(root, 'tr/train/_model/ema.safetensors'));
  assert.ok(ema(clean).equals(ema(killed)), 'final EMA weights differ after resume');

  // The sample stage's images equal sampling here from the last checkpoint's EMA weights.
  const { tf } = await loadTf('wasm');
  const loaded = await loadCheckpoint(path.join(clean, 'tr/train/_checkpoints/step-0000012'));
  const cfg = loaded.state.config as ModelConfig;
  const params = new Map([...loaded.tensors.ema].map(([k, t]) => [k, tf.variable(tf.tensor(t.data, t.shape), false)]));
  const rows = await sql(`SELECT prompt, image, seed, noise_index FROM read_parquet('${clean}/tr/sample/*.parquet') ORDER BY noise_index`);
  assert.equal(rows.length, 6);
  const images = await sampleImages(tf, cfg, params, {
    captions: rows.map((r) => String(r.prompt)),
    positive: rows.map(() => [1, 1]),
    negative: rows.map(() => [0, 0]),
    guidance: 2,
    negativeCaption: 'same',
    steps: 3,
    seed: Number(rows[0]!.seed),
    offset: Number(rows[0]!.noise_index),
  });
  for (const [i, r] of rows.entries())
    assert.ok(Buffer.from(await encodePng(images[i]!, 32, 32)).equals(Buffer.from(r.image as Uint8Array)), `sample ${i} differs`);
});
