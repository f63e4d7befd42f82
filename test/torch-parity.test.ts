// The two engines never drift: python/miro_torch (PyTorch) against src/model (TensorFlow.js) on
// the same weights and inputs. The forward pass agrees to 1e-5; from the same initial weights on
// the same batches the losses agree step by step over 50 AdamW steps; two gloo ranks launched by
// torchrun at global batch B give the weights one process gives at batch B; and the weights the
// torch engine writes load in TensorFlow.js under the same names and shapes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Tensor } from '@tensorflow/tfjs';
import { ROOT, tmpDir, TORCH_PYTHON, NO_TORCH } from './helpers.ts';
import { loadTf } from '../src/model/backend.ts';
import { modelConfig, type ModelConfig } from '../src/model/config.ts';
import { forward, initParams, paramSpecs, type Params } from '../src/model/network.ts';
import { flowLoss, interpolate } from '../src/model/flow.ts';
import { AdamW, type OptimConfig } from '../src/train/optim.ts';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../src/util/safetensors.ts';
import { Rng } from '../src/util/random.ts';

const PYTHON = TORCH_PYTHON;
const skip = PYTHON ? false : NO_TORCH;
const REWARDS = ['colourfulness', 'sharpness', 'contrast', 'cleanliness', 'objects', 'counting', 'position'];

function python(args: string[], opts: { torchrun?: number } = {}): string {
  const cmd = opts.torchrun
    ? [
        '-m',
        'torch.distributed.run',
        '--nproc_per_node',
        String(opts.torchrun),
        // torch 1.13's launcher cannot parse its own default "0" here on Python 3.11 (IntFlag).
        '--redirects',
        '1',
        '--tee',
        '1',
        '--master_port',
        String(29500 + (process.pid % 1000)),
        '-m',
        ...args,
      ]
    : ['-m', ...args];
  const r = spawnSync(PYTHON!, cmd, { cwd: path.join(ROOT, 'python'), encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, `${cmd.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function paramArrays(params: Params): Map<string, NamedArray> {
  return new Map([...params].map(([n, v]) => [n, { shape: v.shape, data: v.dataSync() as Float32Array }]));
}

/** Random inputs for a batch of B: [x, t, text ids, text mask, rewards, reward mask] as arrays with shapes. */
function batch(cfg: ModelConfig, B: number, rng: Rng): Map<string, NamedArray> {
  const S = cfg.image_size;
  const T = cfg.text.max_tokens;
  const R = cfg.rewards.length;
  const V = cfg.text.kind === 'learned' ? cfg.text.vocab.length : 0;
  const text = new Float32Array(B * T);
  const textMask = new Float32Array(B * T);
  for (let i = 0; i < B; i++) {
    const len = 1 + Math.floor(rng.uniform() * T);
    for (let k = 0; k < len; k++) {
      text[i * T + k] = 1 + Math.floor(rng.uniform() * (V - 1));
      textMask[i * T + k] = 1;
    }
  }
  const rewards = Float32Array.from({ length: B * R }, () => rng.uniform());
  const rewardMask = Float32Array.from({ length: B * R }, () => (rng.uniform() < 0.15 ? 0 : 1));
  return new Map([
    ['x', { shape: [B, S, S, cfg.channels], data: rng.normals(B * S * S * cfg.channels) }],
    ['n', { shape: [B, S, S, cfg.channels], data: rng.normals(B * S * S * cfg.channels) }],
    ['t', { shape: [B], data: Float32Array.from({ length: B }, () => 1 / (1 + Math.exp(-rng.normal()))) }],
    ['text', { shape: [B, T], data: text }],
    ['text_mask', { shape: [B, T], data: textMask }],
    ['rewards', { shape: [B, R], data: rewards }],
    ['reward_mask', { shape: [B, R], data: rewardMask }],
  ]);
}

async function tfInputs(b: Map<string, NamedArray>) {
  const { tf } = await loadTf();
  const t = (k: string, dtype: 'float32' | 'int32' = 'float32') => tf.tensor(b.get(k)!.data, b.get(k)!.shape, dtype);
  return {
    x: t('x'),
    n: t('n'),
    t: t('t'),
    text: tf.tensor(Int32Array.from(b.get('text')!.data), b.get('text')!.shape, 'int32'),
    textMask: t('text_mask'),
    rewards: t('rewards'),
    rewardMask: t('reward_mask'),
  };
}

test('the torch engine computes the same forward pass as TensorFlow.js, to 1e-5', { skip }, async () => {
  const { tf } = await loadTf();
  const dir = tmpDir();
  for (const preset of ['tiny', 'tiny-patchwise']) {
    const cfg = modelConfig(preset, 'miro', REWARDS);
    const params = initParams(tf, cfg, 11);
    const b = batch(cfg, 3, new Rng(5));
    const inp = await tfInputs(b);
    const out = forward(tf, cfg, params, inp);
    b.set('expected', { shape: out.shape, data: out.dataSync() as Float32Array });
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    writeFileSync(path.join(dir, 'weights.safetensors'), encodeSafetensors(paramArrays(params)));
    writeFileSync(path.join(dir, 'io.safetensors'), encodeSafetensors(b));
    const r = JSON.parse(
      python(['miro_torch.parity', 'forward', ...['config.json', 'weights.safetensors', 'io.safetensors'].map((f) => path.join(dir, f))]),
    );
    assert.ok(r.max_abs > 0.01, 'the output is not trivially zero');
    assert.ok(r.max_abs_diff < 1e-5, `${preset}: engines differ by ${r.max_abs_diff}`);
  }
});

test(
  'from the same weights on the same batches, the two engines agree on 50 steps of losses; 2 gloo ranks under torchrun equal one process',
  { skip },
  async () => {
    const { tf } = await loadTf();
    const dir = tmpDir();
    const cfg = modelConfig('tiny', 'miro', REWARDS);
    const params = initParams(tf, cfg, 3);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    writeFileSync(path.join(dir, 'weights.safetensors'), encodeSafetensors(paramArrays(params)));
    const STEPS = 50;
    const B = 8;
    const o: OptimConfig = {
      lr: 2e-3,
      min_lr: 1e-4,
      warmup_steps: 5,
      total_steps: STEPS,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-8,
      weight_decay: 0.01,
      clip_norm: 1,
      ema_decay: 0.99,
    };
    writeFileSync(path.join(dir, 'optim.json'), JSON.stringify(o));
    const adam = new AdamW(tf, o, params);
    const byVar = new Map([...params].map(([n, v]) => [v.name, n]));
    const rng = new Rng(9);
    const all = new Map<string, NamedArray>();
    const losses: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      const b = batch(cfg, B, rng);
      for (const [k, v] of b) all.set(`${k}_${step}`, v);
      const inp = await tfInputs(b);
      const { value, grads } = tf.variableGrads(() => {
        const { xt, target } = interpolate(tf, inp.x, inp.n, inp.t);
        return flowLoss(tf, forward(tf, cfg, params, { ...inp, x: xt }), target) as import('@tensorflow/tfjs').Scalar;
      });
      const named: Record<string, Tensor> = {};
      for (const [v, g] of Object.entries(grads)) named[byVar.get(v)!] = g;
      adam.apply(named, step);
      losses.push(value.dataSync()[0]!);
      tf.dispose([value, ...Object.values(grads), ...Object.values(inp)]);
    }
    writeFileSync(path.join(dir, 'batches.safetensors'), encodeSafetensors(all));
    const args = (out: string) => [
      'miro_torch.parity',
      'train',
      ...['config.json', 'weights.safetensors', 'batches.safetensors', 'optim.json', out].map((f) => path.join(dir, f)),
    ];
    python(args('one'));
    python(args('two'), { torchrun: 2 });
    const one = JSON.parse(readFileSync(path.join(dir, 'one.json'), 'utf8')).losses as number[];
    const two = JSON.parse(readFileSync(path.join(dir, 'two.json'), 'utf8')).losses as number[];
    assert.equal(one.length, STEPS);
    const worst = Math.max(...losses.map((l, i) => Math.abs(l - one[i]!) / Math.abs(l)));
    assert.ok(worst < 1e-4, `losses differ by ${worst} (relative) between the engines`);
    assert.ok(losses.at(-1)! < losses[0]!, 'the loss fell');
    const worstRanks = Math.max(...one.map((l, i) => Math.abs(l - two[i]!) / Math.abs(l)));
    assert.ok(worstRanks < 1e-5, `2 ranks and 1 process differ by ${worstRanks} (relative)`);

    // Weights: torch's final weights load in TensorFlow.js (same names and shapes) and match its own.
    const read = (f: string) => decodeSafetensors(readFileSync(path.join(dir, f)), f).tensors;
    const w1 = read('one.safetensors');
    const w2 = read('two.safetensors');
    assert.deepEqual(
      [...w1.keys()].sort(),
      paramSpecs(cfg)
        .map((s) => s.name)
        .sort(),
    );
    let drift = 0;
    let ranks = 0;
    for (const [name, v] of params) {
      const mine = v.dataSync();
      const a = w1.get(name)!;
      assert.deepEqual(a.shape, v.shape, name);
      for (let i = 0; i < mine.length; i++) {
        drift = Math.max(drift, Math.abs(mine[i]! - a.data[i]!));
        ranks = Math.max(ranks, Math.abs(a.data[i]! - w2.get(name)!.data[i]!));
      }
    }
    assert.ok(drift < 1e-3, `weights after 50 steps differ by ${drift} between the engines`);
    // Summation order differs (two halves, then an average): Adam turns that into ~1e-5 by step 50.
    assert.ok(ranks < 1e-4, `weights differ by ${ranks} between 2 ranks and 1 process`);
  },
);

test('the torch engine bench prints its BENCH lines (the GPU check runs it on the paper preset)', { skip }, () => {
  const out = python(['miro_torch.bench', '--preset', 'paper-tiny', '--seconds', '1', '--warmup', '1']);
  for (const k of ['steps_per_s', 'examples_per_s', 'examples_per_s_per_process'])
    assert.match(out, new RegExp(`^BENCH miro_torch\\.paper-tiny_${k} \\d`, 'm'));
});
