// The MIRO network: a text-conditioned Recurrent Interface Network (TextRIN family) whose
// condition tokens are the caption's tokens plus one token per reward. Read top to bottom:
// parameter shapes, then the layers, then the forward pass with tensor shapes in comments.
// Over 150 lines because the whole network is here, in one place, on purpose.

import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { Tf } from './backend.js';
import type { ModelConfig } from './config.js';
import { gaussian, mulberry32 } from '../util/random.js';

export type Params = Map<string, Variable>;
export interface ParamSpec {
  name: string;
  shape: number[];
  /** Initial values: normal with this std, or a constant. */
  init: { std: number } | { value: number };
}

function attnSpecs(prefix: string, D: number, heads: number): ParamSpec[] {
  const std = 1 / Math.sqrt(D);
  return [
    ...['q', 'k', 'v', 'o'].map((n) => ({ name: `${prefix}.w${n}`, shape: [D, D], init: { std } })),
    { name: `${prefix}.q_norm`, shape: [D / heads], init: { value: 1 } },
    { name: `${prefix}.k_norm`, shape: [D / heads], init: { value: 1 } },
    { name: `${prefix}.norm`, shape: [D], init: { value: 1 } },
  ];
}

function mlpSpecs(prefix: string, D: number, ratio: number): ParamSpec[] {
  const H = D * ratio;
  return [
    { name: `${prefix}.w1`, shape: [D, H], init: { std: 1 / Math.sqrt(D) } },
    { name: `${prefix}.w3`, shape: [D, H], init: { std: 1 / Math.sqrt(D) } },
    { name: `${prefix}.w2`, shape: [H, D], init: { std: 1 / Math.sqrt(H) } },
    { name: `${prefix}.norm`, shape: [D], init: { value: 1 } },
  ];
}

export function paramSpecs(cfg: ModelConfig): ParamSpec[] {
  const D = cfg.dim;
  const P = cfg.patch * cfg.patch * cfg.channels;
  const N = (cfg.image_size / cfg.patch) ** 2;
  const F2 = 2 * cfg.fourier_features;
  const specs: ParamSpec[] = [
    { name: 'patch.w', shape: [P, D], init: { std: 1 / Math.sqrt(P) } },
    { name: 'patch.pos', shape: [N, D], init: { std: 0.02 } },
    { name: 'latents', shape: [cfg.latents, D], init: { std: 0.02 } },
    { name: 'time.w1', shape: [F2, D], init: { std: 1 / Math.sqrt(F2) } },
    { name: 'time.w2', shape: [D, D], init: { std: 1 / Math.sqrt(D) } },
    { name: 'out.norm', shape: [D], init: { value: 1 } },
    { name: 'out.w', shape: [D, P], init: { std: 0.1 / Math.sqrt(D) } },
  ];
  if (cfg.text.kind === 'learned') {
    specs.push(
      { name: 'text.embed', shape: [cfg.text.vocab.length, D], init: { std: 0.02 } },
      { name: 'text.pos', shape: [cfg.text.max_tokens, D], init: { std: 0.02 } },
    );
    for (let l = 0; l < cfg.text.layers; l++)
      specs.push(...attnSpecs(`text.${l}.attn`, D, cfg.heads), ...mlpSpecs(`text.${l}.mlp`, D, cfg.mlp_ratio));
  } else specs.push({ name: 'text.proj', shape: [cfg.text.embed_dim, D], init: { std: 1 / Math.sqrt(cfg.text.embed_dim) } });
  if (cfg.rewards.length) {
    const R = cfg.rewards.length;
    specs.push(
      { name: 'reward.w1', shape: [F2, D], init: { std: 1 / Math.sqrt(F2) } },
      { name: 'reward.w2', shape: [D, D], init: { std: 1 / Math.sqrt(D) } },
      { name: 'reward.pos', shape: [R, D], init: { std: 0.02 } },
      { name: 'reward.missing', shape: [R, D], init: { std: 0.02 } },
    );
  }
  for (let b = 0; b < cfg.blocks; b++) {
    specs.push(...attnSpecs(`block.${b}.read`, D, cfg.heads), ...mlpSpecs(`block.${b}.read_mlp`, D, cfg.mlp_ratio));
    for (let s = 0; s < cfg.self_per_block; s++)
      specs.push(...attnSpecs(`block.${b}.self.${s}`, D, cfg.heads), ...mlpSpecs(`block.${b}.self_mlp.${s}`, D, cfg.mlp_ratio));
    specs.push(...attnSpecs(`block.${b}.write`, D, cfg.heads), ...mlpSpecs(`block.${b}.write_mlp`, D, cfg.mlp_ratio));
    if (cfg.local_mix)
      specs.push(
        { name: `block.${b}.mix.w`, shape: [9 * D, D], init: { std: 0.1 / Math.sqrt(9 * D) } },
        { name: `block.${b}.mix.norm`, shape: [D], init: { value: 1 } },
      );
  }
  return specs;
}

export function parameterCount(cfg: ModelConfig): number {
  return paramSpecs(cfg).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}

/** Deterministic initial values from a seed, the same on every backend. */
export function initParams(tf: Tf, cfg: ModelConfig, seed: number): Params {
  const normal = gaussian(mulberry32(seed));
  const params: Params = new Map();
  for (const s of paramSpecs(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if ('std' in s.init) for (let i = 0; i < n; i++) data[i] = normal() * s.init.std;
    else data.fill(s.init.value);
    params.set(s.name, tf.variable(tf.tensor(data, s.shape), true));
  }
  return params;
}

export interface Inputs {
  x: Tensor; //        [B, S, S, C] noisy image at time t
  t: Tensor; //        [B]
  text: Tensor; //     [B, T] token ids (int32), or [B, T, E] embeddings for the paper preset
  textMask: Tensor; // [B, T] 1 = token, 0 = padding
  rewards: Tensor; //  [B, R] targets in [0, 1] (ignored where missing)
  rewardMask: Tensor; // [B, R] 1 = present, 0 = missing reward
}

export function forward(tf: Tf, cfg: ModelConfig, p: Params, inp: Inputs): Tensor {
  const W = (name: string) => {
    const v = p.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    return v;
  };
  const D = cfg.dim;
  const H = cfg.heads;
  const dh = D / H;
  const B = inp.x.shape[0]!;
  const g = cfg.image_size / cfg.patch;
  const N = g * g;

  const linear = (x: Tensor, w: string) => {
    const shape = x.shape;
    const out = tf.matMul(tf.reshape(x, [-1, shape[shape.length - 1]!]), W(w)); // [*, in] x [in, out]
    return tf.reshape(out, [...shape.slice(0, -1), W(w).shape[1]!]);
  };
  const rmsNorm = (x: Tensor, gain: Tensor) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), gain);
  const heads = (x: Tensor, T: number) => tf.transpose(tf.reshape(x, [B, T, H, dh]), [0, 2, 1, 3]); // [B, H, T, dh]

  // Multi-head attention with QK-norm; `kvMask` [B, Tk] hides padding.
  const attention = (prefix: string, xq: Tensor, xkv: Tensor, kvMask: Tensor | null) => {
    const Tq = xq.shape[1]!;
    const Tk = xkv.shape[1]!;
    const q = rmsNorm(heads(linear(xq, `${prefix}.wq`), Tq), W(`${prefix}.q_norm`)); // [B, H, Tq, dh]
    const k = rmsNorm(heads(linear(xkv, `${prefix}.wk`), Tk), W(`${prefix}.k_norm`)); // [B, H, Tk, dh]
    const v = heads(linear(xkv, `${prefix}.wv`), Tk); //                                   [B, H, Tk, dh]
    let scores = tf.mul(tf.matMul(q, tf.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(dh)); // [B, H, Tq, Tk]
    if (kvMask) scores = tf.add(scores, tf.mul(tf.reshape(tf.sub(1, kvMask), [B, 1, 1, Tk]), -1e9));
    const o = tf.matMul(tf.softmax(scores), v); //                                         [B, H, Tq, dh]
    return linear(tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [B, Tq, D]), `${prefix}.wo`); // [B, Tq, D]
  };
  const silu = (x: Tensor) => tf.mul(x, tf.sigmoid(x));
  const swiglu = (prefix: string, x: Tensor) => {
    const h = rmsNorm(x, W(`${prefix}.norm`));
    return linear(tf.mul(silu(linear(h, `${prefix}.w1`)), linear(h, `${prefix}.w3`)), `${prefix}.w2`);
  };
  const attend = (prefix: string, xq: Tensor, xkv: Tensor, mask: Tensor | null) =>
    tf.add(xq, attention(prefix, rmsNorm(xq, W(`${prefix}.norm`)), rmsNorm(xkv, W(`${prefix}.norm`)), mask));
  const fourier = (v: Tensor) => {
    const freqs = tf.tensor1d(Array.from({ length: cfg.fourier_features }, (_, i) => Math.PI * 2 ** i)); // [F]
    const angles = tf.mul(tf.reshape(v, [-1, 1]), freqs); // [n, F]
    return tf.concat([tf.sin(angles), tf.cos(angles)], 1); // [n, 2F]
  };

  // Data tokens: patches of the noisy image.
  const C = cfg.channels;
  const P = cfg.patch;
  let patches = tf.reshape(inp.x, [B, g, P, g, P, C]);
  patches = tf.reshape(tf.transpose(patches, [0, 1, 3, 2, 4, 5]), [B, N, P * P * C]); // [B, N, P*P*C]
  let X = tf.add(linear(patches, 'patch.w'), W('patch.pos')); //                          [B, N, D]
  if (cfg.fixed_positions) X = tf.add(X, sincos2d(tf, g, D)); //                               [B, N, D]

  // Time: Fourier features of t, then an MLP.
  const time = linear(silu(linear(fourier(inp.t), 'time.w1')), 'time.w2'); // [B, D]
  const timeTok = tf.reshape(time, [B, 1, D]);

  // Text tokens: one-hot x embedding (the wasm backend has no gradient for gather), then a
  // small transformer; or projected frozen-encoder embeddings.
  let text: Tensor;
  const T = cfg.text.max_tokens;
  if (cfg.text.kind === 'learned') {
    const oneHot = tf.oneHot(tf.reshape(inp.text, [-1]), cfg.text.vocab.length); // [B*T, V]
    text = tf.add(tf.reshape(tf.matMul(tf.cast(oneHot, 'float32'), W('text.embed')), [B, T, D]), W('text.pos')); // [B, T, D]
    for (let l = 0; l < cfg.text.layers; l++) {
      text = attend(`text.${l}.attn`, text, text, inp.textMask);
      text = tf.add(text, swiglu(`text.${l}.mlp`, text));
    }
  } else text = linear(inp.text, 'text.proj'); // [B, T, D]

  // Reward tokens: Fourier features of each target, an MLP to the token width, a learned
  // position per reward; a missing reward uses that reward's learned "missing" token instead.
  const condParts = [text];
  const condMasks = [inp.textMask];
  const R = cfg.rewards.length;
  if (R > 0) {
    const f = fourier(inp.rewards); //                                                  [B*R, 2F]
    let tok = tf.reshape(linear(silu(linear(f, 'reward.w1')), 'reward.w2'), [B, R, D]); // [B, R, D]
    tok = tf.add(tok, W('reward.pos'));
    const m = tf.reshape(inp.rewardMask, [B, R, 1]);
    tok = tf.add(tf.mul(tok, m), tf.mul(tf.sub(1, m), W('reward.missing')));
    condParts.push(tok);
    condMasks.push(tf.onesLike(inp.rewardMask));
  }
  condParts.push(timeTok);
  condMasks.push(tf.ones([B, 1]));
  const cond = tf.concat(condParts, 1); //                                               [B, T+R+1, D]

  // Latents read from data and condition tokens, process among themselves, write back.
  let Z = tf.add(tf.tile(tf.reshape(W('latents'), [1, cfg.latents, D]), [B, 1, 1]), timeTok); // [B, L, D]
  const readMask = tf.concat([tf.ones([B, N]), ...condMasks], 1); //                     [B, N+T+R+1]
  for (let b = 0; b < cfg.blocks; b++) {
    Z = attend(`block.${b}.read`, Z, tf.concat([X, cond], 1), readMask);
    Z = tf.add(Z, swiglu(`block.${b}.read_mlp`, Z));
    for (let s = 0; s < cfg.self_per_block; s++) {
      Z = attend(`block.${b}.self.${s}`, Z, Z, null);
      Z = tf.add(Z, swiglu(`block.${b}.self_mlp.${s}`, Z));
    }
    X = attend(`block.${b}.write`, X, Z, null);
    X = tf.add(X, swiglu(`block.${b}.write_mlp`, X));
    if (cfg.local_mix) X = tf.add(X, mixNeighbours(tf, rmsNorm(X, W(`block.${b}.mix.norm`)), W(`block.${b}.mix.w`), B, g, D));
  }

  // Back to pixels: [B, N, P*P*C] -> [B, S, S, C].
  const out = linear(rmsNorm(X, W('out.norm')), 'out.w');
  return tf.reshape(tf.transpose(tf.reshape(out, [B, g, g, P, P, C]), [0, 1, 3, 2, 4, 5]), [B, cfg.image_size, cfg.image_size, C]);
}

/** Fixed 2-D sin-cos position codes for a g x g token grid, [N, D]: half the width for rows, half for columns. */
export function sincos2d(tf: Tf, g: number, D: number): Tensor {
  const quarter = D / 4;
  const data = new Float32Array(g * g * D);
  for (let r = 0; r < g; r++)
    for (let c = 0; c < g; c++)
      for (let k = 0; k < quarter; k++) {
        const freq = 1 / 100 ** (k / quarter);
        const o = (r * g + c) * D;
        data[o + k] = Math.sin(r * freq);
        data[o + quarter + k] = Math.cos(r * freq);
        data[o + 2 * quarter + k] = Math.sin(c * freq);
        data[o + 3 * quarter + k] = Math.cos(c * freq);
      }
  return tf.tensor2d(data, [g * g, D]);
}

/**
 * A 3x3 convolution over the g x g token grid (zero beyond the border), from plain matrix products
 * and transposes (the wasm backend has no gradient for a convolution's filter, and slicing a 4-D
 * tensor costs more than this): every token's contribution to each of its 9 neighbours is one
 * product with the weight [9D, D] (block k of D rows is the weight of offset k), and a fixed 0/1
 * matrix [N, 9N] adds each token's 9 incoming contributions. [B, N, D] -> [B, N, D].
 */
export function mixNeighbours(tf: Tf, x: Tensor, w: Tensor, B: number, g: number, D: number): Tensor {
  const N = g * g;
  const perOffset = tf.reshape(tf.transpose(tf.reshape(w, [9, D, D]), [1, 0, 2]), [D, 9 * D]); // [D, 9D]
  const v = tf.matMul(tf.reshape(x, [B * N, D]), perOffset); //                                  [B*N, 9D]
  const byOffset = tf.reshape(tf.transpose(tf.reshape(v, [B, N, 9, D]), [2, 1, 0, 3]), [9 * N, B * D]); // [9N, B*D]
  const summed = tf.matMul(neighbourMatrix(tf, g), byOffset); //                                  [N, B*D]
  return tf.transpose(tf.reshape(summed, [N, B, D]), [1, 0, 2]); //                                [B, N, D]
}

/** G [N, 9N]: G[i, k N + j] = 1 when token j sits at offset k = (dy, dx) of token i, dy and dx in -1..1. */
function neighbourMatrix(tf: Tf, g: number): Tensor {
  const N = g * g;
  const data = new Float32Array(N * 9 * N);
  for (let r = 0; r < g; r++)
    for (let c = 0; c < g; c++)
      for (let k = 0; k < 9; k++) {
        const rr = r + Math.floor(k / 3) - 1;
        const cc = c + (k % 3) - 1;
        if (rr >= 0 && rr < g && cc >= 0 && cc < g) data[(r * g + c) * 9 * N + k * N + rr * g + cc] = 1;
      }
  return tf.tensor2d(data, [N, 9 * N]);
}
