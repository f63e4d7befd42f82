// Training throughput of the MIRO network on this CPU: steps/s and examples/s for the tiny and
// small presets (forward, backward and the AdamW + EMA update on a fixed batch), on TensorFlow.js.
// For comparison, bench/train_reference.py times the same network and step in PyTorch on the
// same CPU (Debian's python3-torch), and the ratio is printed.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTf } from '../src/model/backend.ts';
import { modelConfig } from '../src/model/config.ts';
import { initParams, forward } from '../src/model/network.ts';
import { interpolate, flowLoss } from '../src/model/flow.ts';
import { AdamW } from '../src/train/optim.ts';
import { report } from './util.ts';

const { tf, backend } = await loadTf(process.env.MIRO_TF_BACKEND);
const REWARDS = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
const B = 32;
const figures: Record<string, number> = {};

// tiny-patchwise is the demo's first preset (no fixed positions, no token mixing): the before figure.
const PRESETS = ['tiny-patchwise', 'tiny', 'small'];
for (const preset of PRESETS) {
  const cfg = modelConfig(preset, 'miro', REWARDS);
  const params = initParams(tf, cfg, 1);
  const adam = new AdamW(
    tf,
    {
      lr: 1e-3,
      min_lr: 1e-4,
      warmup_steps: 10,
      total_steps: 1000,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-8,
      weight_decay: 0.01,
      clip_norm: 1,
      ema_decay: 0.99,
    },
    params,
  );
  const T = cfg.text.max_tokens;
  const x = tf.randomNormal([B, 32, 32, 3]);
  const n = tf.randomNormal([B, 32, 32, 3]);
  const t = tf.randomUniform([B]);
  const inputs = {
    t,
    text: tf.zeros([B, T], 'int32'),
    textMask: tf.ones([B, T]),
    rewards: tf.randomUniform([B, 7]),
    rewardMask: tf.ones([B, 7]),
  };
  const byVar = new Map([...params].map(([k, v]) => [v.name, k]));
  const step = async (i: number) => {
    const { value, grads } = tf.variableGrads(() => {
      const { xt, target } = interpolate(tf, x, n, t);
      return flowLoss(tf, forward(tf, cfg, params, { ...inputs, x: xt }), target) as import('@tensorflow/tfjs').Scalar;
    });
    adam.apply(Object.fromEntries(Object.entries(grads).map(([k, g]) => [byVar.get(k)!, g])), i);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  };
  for (let i = 0; i < 3; i++) await step(i);
  const N = preset === 'small' ? 6 : 20;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await step(i + 3);
  const secs = (performance.now() - t0) / 1000;
  figures[preset] = N / secs;
  report(`train.${preset}_steps_per_s_${backend}`, N / secs, 'steps/s');
  report(`train.${preset}_examples_per_s_${backend}`, (N * B) / secs, 'examples/s');
}

const here = path.dirname(fileURLToPath(import.meta.url));
const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
if (!python) {
  console.log('# PyTorch reference skipped: no python3 with torch (apt-get install python3-torch)');
} else if (existsSync(path.join(here, 'train_reference.py'))) {
  const ref = spawnSync(python, [path.join(here, 'train_reference.py'), '--batch', String(B)], { encoding: 'utf8' });
  if (ref.status !== 0) throw new Error(`train_reference.py failed: ${ref.stderr}`);
  process.stdout.write(ref.stdout);
  for (const preset of PRESETS) {
    const m = new RegExp(`BENCH train\\.${preset}_steps_per_s_torch (\\S+)`).exec(ref.stdout);
    if (m) report(`train.${preset}_ratio_tfjs_${backend}_over_torch`, figures[preset]! / Number(m[1]), 'x');
  }
}
report(`train.tiny_step_time_over_tiny_patchwise`, figures['tiny-patchwise']! / figures.tiny!, 'x');
