// The MIRO network, flow matching, guidance and the sampler, on the TensorFlow.js wasm backend.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTf } from '../src/model/backend.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { modelConfig } from '../src/model/config.ts';
import { initParams, forward, mixNeighbours, parameterCount, type Params } from '../src/model/network.ts';
import { interpolate, flowLoss, guide } from '../src/model/flow.ts';
import { sampleImages } from '../src/model/sampler.ts';
import { guidancePreset, guidanceRequest } from '../src/model/guidance.ts';
import { DEMO_VOCAB } from '../src/model/tokenizer.ts';

const { tf } = await loadTf('wasm');

const micro = (rewards: string[]): ModelConfig => ({
  preset: 'micro',
  variant: rewards.length ? 'miro' : 'baseline',
  image_size: 8,
  channels: 3,
  patch: 4,
  dim: 8,
  heads: 2,
  latents: 4,
  blocks: 1,
  self_per_block: 1,
  mlp_ratio: 2,
  fourier_features: 3,
  text: { kind: 'learned', max_tokens: 4, layers: 1, vocab: DEMO_VOCAB },
  rewards,
});

function inputs(cfg: ModelConfig, B: number, rewards: number[][]) {
  const R = Math.max(1, cfg.rewards.length);
  return {
    x: tf.tensor4d(
      Float32Array.from({ length: B * 8 * 8 * 3 }, (_, i) => Math.sin(i)),
      [B, 8, 8, 3],
    ),
    t: tf.tensor1d(Array.from({ length: B }, (_, i) => 0.3 + 0.1 * i)),
    text: tf.tensor2d(
      Int32Array.from({ length: B * 4 }, (_, i) => 2 + (i % 5)),
      [B, 4],
      'int32',
    ),
    textMask: tf.ones([B, 4]),
    rewards: tf.tensor2d(rewards.flat().length ? rewards.flat() : new Array(B * R).fill(0), [B, R]),
    rewardMask: tf.ones([B, R]),
  };
}

test('flow matching: x_t, the velocity target and the loss against hand-computed values', () => {
  const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
  const n = tf.tensor4d([0, 0, 1, 1], [1, 2, 2, 1]);
  const { xt, target } = interpolate(tf, x, n, tf.tensor1d([0.25]));
  assert.deepEqual(Array.from(xt.dataSync()), [0.75, 1.5, 2.5, 3.25]); // (1 - t) x + t n
  assert.deepEqual(Array.from(target.dataSync()), [-1, -2, -2, -3]); // n - x
  const loss = flowLoss(tf, tf.tensor4d([0, 0, 0, 0], [1, 2, 2, 1]), target).dataSync()[0];
  assert.equal(loss, (1 + 4 + 4 + 9) / 4);
});

test('guidance: v(s+) + w (v(s+) - v(s-)) against hand-computed values', () => {
  const v = guide(tf, tf.tensor1d([1, 2]), tf.tensor1d([0.5, 3]), 7).dataSync();
  assert.deepEqual(Array.from(v), [1 + 7 * 0.5, 2 + 7 * -1]);
  const g = guidancePreset('only:b', ['a', 'b', 'c']);
  assert.deepEqual(g, { positive: [1, 1, 1], negative: [1, 0, 1] });
  assert.deepEqual(guidancePreset('pair:a,c,0.25', ['a', 'b', 'c']).negative, [0.25, 1, 0.75]);
  assert.deepEqual(guidancePreset('all', ['a', 'b']), { positive: [1, 1], negative: [0, 0] });
  assert.deepEqual(guidancePreset('custom', ['a', 'b'], { a: 0.625 }).positive, [0.625, 1]);
  assert.throws(() => guidancePreset('only:zz', ['a']), /no reward "zz"/);
});

test('one guidance request per preset, the same for the CLI, the sample stage, the dials and the training evaluation', () => {
  const miro = ['a', 'b'];
  assert.deepEqual(guidanceRequest(miro, { preset: 'none', guidance: 3 }), {
    preset: 'none',
    positive: [1, 1],
    negative: null,
    guidance: 0,
    negativeCaption: 'same',
  });
  assert.deepEqual(guidanceRequest(miro, { preset: 'all', guidance: 3 }), {
    preset: 'all',
    positive: [1, 1],
    negative: [0, 0],
    guidance: 3,
    negativeCaption: 'same',
  });
  assert.equal(guidanceRequest(miro, { preset: 'all', guidance: 3, negativeCaption: 'empty' }).negativeCaption, 'empty');
  assert.deepEqual(guidanceRequest(miro, { preset: 'only:b', guidance: 2 }).negative, [1, 0]);
  assert.deepEqual(guidanceRequest(miro, { preset: 'custom', guidance: 2, targets: { a: 0.625 } }).positive, [0.625, 1]);
  // Text guidance drops the negative branch's caption whatever was asked, on MIRO and on a baseline.
  for (const rewards of [miro, []]) {
    const g = guidanceRequest(rewards, { preset: 'text', guidance: 3, negativeCaption: 'same' });
    assert.equal(g.negativeCaption, 'empty');
    assert.equal(g.guidance, 3);
    assert.deepEqual(g.negative, g.positive);
  }
  // A reward preset on a model without reward tokens is an error, not silent unguided sampling.
  assert.throws(() => guidanceRequest([], { preset: 'all', guidance: 3 }), /no reward tokens.*use text or none/);
  assert.throws(() => guidanceRequest(miro, { preset: 'custom', guidance: 3, targets: { zz: 1 } }), /unknown reward "zz"/);
  assert.throws(() => guidanceRequest(miro, { preset: 'tinyy', guidance: 3 }), /unknown guidance preset "tinyy"/);
});

test('token mixing is a 3x3 convolution over the token grid, zero beyond the border', () => {
  const [B, g, D] = [2, 3, 2];
  const x = Float32Array.from({ length: B * g * g * D }, (_, i) => Math.sin(i + 1));
  const w = Float32Array.from({ length: 9 * D * D }, (_, i) => Math.cos(i * 0.7));
  const got = mixNeighbours(tf, tf.tensor3d(x, [B, g * g, D]), tf.tensor2d(w, [9 * D, D]), B, g, D).dataSync();
  for (let b = 0; b < B; b++)
    for (let r = 0; r < g; r++)
      for (let c = 0; c < g; c++)
        for (let o = 0; o < D; o++) {
          let want = 0;
          for (let k = 0; k < 9; k++) {
            const [rr, cc] = [r + Math.floor(k / 3) - 1, c + (k % 3) - 1];
            if (rr < 0 || rr >= g || cc < 0 || cc >= g) continue;
            for (let d = 0; d < D; d++) want += x[((b * g + rr) * g + cc) * D + d]! * w[(k * D + d) * D + o]!;
          }
          const at = ((b * g + r) * g + c) * D + o;
          assert.ok(Math.abs(got[at]! - want) < 1e-5, `[${b}, ${r}, ${c}, ${o}]: ${got[at]} != ${want}`);
        }
});

test('gradients agree with finite differences on a tiny model', () => {
  const cfg: ModelConfig = { ...micro(['a', 'b']), fixed_positions: true, local_mix: true };
  const params = initParams(tf, cfg, 3);
  const inp = inputs(cfg, 2, [
    [0.2, 0.9],
    [0.7, 0.1],
  ]);
  const target = tf.tensor4d(
    Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.cos(i)),
    [2, 8, 8, 3],
  );
  const lossOf = () => flowLoss(tf, forward(tf, cfg, params, inp), target) as import('@tensorflow/tfjs').Scalar;
  const { grads } = tf.variableGrads(lossOf);
  const byName = new Map([...params].map(([n, v]) => [n, grads[v.name]!]));
  let checked = 0;
  for (const name of [
    'patch.w',
    'reward.w1',
    'text.embed',
    'block.0.read.wq',
    'block.0.self_mlp.0.w2',
    'block.0.mix.w',
    'out.w',
    'time.w2',
  ]) {
    const v = params.get(name)!;
    const g = byName.get(name)!.dataSync() as Float32Array;
    const values = v.dataSync().slice();
    // The entry with the largest gradient: its finite difference stands well above float32 noise.
    const i = g.reduce((best, x, k) => (Math.abs(x) > Math.abs(g[best]!) ? k : best), 0);
    const at = (delta: number) => {
      const copy = values.slice();
      copy[i] = copy[i]! + delta;
      v.assign(tf.tensor(copy, v.shape));
      return lossOf().dataSync()[0]!;
    };
    // In float32 a small step drowns in rounding and a large one in curvature, differently for
    // each parameter: the best of three step sizes must agree.
    const fd = [1e-2, 3e-3, 1e-3]
      .map((e) => e * Math.max(1, Math.abs(values[i]!)))
      .map((eps) => (at(eps) - at(-eps)) / (2 * eps))
      .reduce((best, x) => (Math.abs(x - g[i]!) < Math.abs(best - g[i]!) ? x : best));
    v.assign(tf.tensor(values, v.shape));
    assert.ok(Math.abs(fd - g[i]!) <= 0.05 * Math.abs(g[i]!) + 1e-4, `${name}[${i}]: analytic ${g[i]} vs finite difference ${fd}`);
    checked++;
  }
  assert.equal(checked, 8);
});

test('reward tokens change the output; the baseline variant has none', () => {
  const cfg = micro(['a', 'b']);
  const params = initParams(tf, cfg, 4);
  const hi = forward(tf, cfg, params, inputs(cfg, 1, [[1, 1]])).dataSync() as Float32Array;
  const lo = forward(tf, cfg, params, inputs(cfg, 1, [[0, 0]])).dataSync();
  const diff = hi.reduce((a, v, i) => a + Math.abs(v - lo[i]!), 0) / hi.length;
  assert.ok(diff > 1e-4, `reward targets barely change the output: ${diff}`);

  const base = modelConfig('tiny', 'baseline', ['a', 'b']);
  assert.deepEqual(base.rewards, []);
  const miro = modelConfig('tiny', 'miro', ['a', 'b']);
  const single = modelConfig('tiny', 'single:b', ['a', 'b']);
  assert.deepEqual(single.rewards, ['b']);
  const baseParams = initParams(tf, micro([]), 1);
  assert.ok(![...baseParams.keys()].some((k) => k.startsWith('reward.')));
  assert.ok(parameterCount(miro) > parameterCount(base));
  const paper = parameterCount(modelConfig('paper', 'miro', ['a', 'b', 'c', 'd', 'e', 'f', 'g']));
  assert.ok(paper > 250e6 && paper < 450e6, `paper preset has ${paper} parameters`);
});

async function sample(cfg: ModelConfig, params: Params, seed: number) {
  return sampleImages(tf, cfg, params, {
    captions: ['a red circle', 'two blue squares'],
    positive: [
      [1, 1],
      [1, 1],
    ],
    negative: [
      [0, 0],
      [0, 0],
    ],
    guidance: 3,
    negativeCaption: 'same',
    steps: 4,
    seed,
  });
}

test('the sampler is deterministic for a seed and differs across seeds', async () => {
  const cfg = micro(['a', 'b']);
  const params = initParams(tf, cfg, 5);
  const [a, b, c] = [await sample(cfg, params, 1), await sample(cfg, params, 1), await sample(cfg, params, 2)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(a[0]!.length, 8 * 8 * 3);
  assert.ok(a[0]!.every((v) => v >= 0 && v <= 255));
});
