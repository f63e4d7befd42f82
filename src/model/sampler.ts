// Sampling: Euler steps on a uniform grid from noise (t = 1) to data (t = 0), with multi-reward
// classifier-free guidance v_hat = v(s+) + w (v(s+) - v(s-)); the negative branch may also get an
// empty caption, as the official code does. Each sample's noise comes from (seed, index), so
// settings compared on the same seed start from the same noise.

import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from './backend.js';
import { pixelSize, type ModelConfig } from './config.js';
import { forward, type Params } from './network.js';
import { guide } from './flow.js';
import { tokenize } from './tokenizer.js';
import { Rng, deriveSeed } from '../util/random.js';
import { MiroError } from '../errors.js';
import { OnnxTextEncoder } from '../frozen/text-encoder.js';
import { OnnxVae, denormalizeLatent } from '../frozen/vae.js';

/** The frozen text encoder and VAE a latent model samples through. */
export interface FrozenSession {
  text: OnnxTextEncoder;
  vae: OnnxVae;
}

/** Loads a latent model's frozen models from the configs its training recorded; null for a pixel model. */
export async function loadFrozen(cfg: ModelConfig): Promise<FrozenSession | null> {
  if (!cfg.frozen) return null;
  const { text_encoder, vae } = cfg.frozen;
  const load = async <T>(what: string, config: string, fn: (f: string) => Promise<T>) => {
    try {
      return await fn(config);
    } catch (err) {
      throw new MiroError(`this model samples through its ${what} (${config}, recorded at training): ${(err as Error).message}`);
    }
  };
  return {
    text: await load('text encoder', text_encoder.config, (f) => OnnxTextEncoder.load(f)),
    vae: await load('VAE', vae.config, (f) => OnnxVae.load(f)),
  };
}

export interface SampleRequest {
  captions: string[];
  /** Per sample, one target per reward of the model (null: missing). */
  positive: (number | null)[][];
  /** Negative targets for guidance; null samples without guidance. */
  negative: (number | null)[][] | null;
  guidance: number;
  negativeCaption: 'same' | 'empty';
  steps: number;
  seed: number;
  /** Index of the first sample, so batches of one call draw the same noise as one big batch. */
  offset?: number;
}

async function textInputs(
  tf: Tf,
  cfg: ModelConfig,
  captions: string[],
  frozen: FrozenSession | null,
): Promise<{ text: Tensor; mask: Tensor }> {
  const T = cfg.text.max_tokens;
  const mask = new Float32Array(captions.length * T);
  if (cfg.text.kind === 'learned') {
    const ids = new Int32Array(captions.length * T);
    captions.forEach((c, i) => {
      const t = tokenize(c, cfg.text.kind === 'learned' ? cfg.text.vocab : [], T);
      ids.set(t, i * T);
      for (let k = 0; k < T; k++) mask[i * T + k] = t[k] !== 0 || k === 0 ? 1 : 0;
    });
    return { text: tf.tensor2d(ids, [captions.length, T], 'int32'), mask: tf.tensor2d(mask, [captions.length, T]) };
  }
  if (!frozen) throw new MiroError('this model reads frozen text-encoder states: load its text encoder and VAE first (loadFrozen)');
  // The empty caption is no tokens at all, as a dropped caption was in training.
  const E = cfg.text.embed_dim;
  const data = new Float32Array(captions.length * T * E);
  const nonEmpty = captions.map((c, i) => ({ c, i })).filter((x) => x.c !== '');
  const states = await frozen.text.encode(nonEmpty.map((x) => x.c));
  nonEmpty.forEach(({ i }, k) => {
    const s = states[k]!;
    const n = Math.min(T, s.tokens);
    data.set(s.data.subarray(0, n * E), i * T * E);
    mask.fill(1, i * T, i * T + n);
  });
  return { text: tf.tensor3d(data, [captions.length, T, E]), mask: tf.tensor2d(mask, [captions.length, T]) };
}

function rewardInputs(tf: Tf, cfg: ModelConfig, targets: (number | null)[][]): { rewards: Tensor; mask: Tensor } {
  const R = Math.max(1, cfg.rewards.length);
  const v = new Float32Array(targets.length * R);
  const m = new Float32Array(targets.length * R);
  targets.forEach((row, i) =>
    cfg.rewards.forEach((_, j) => {
      const x = row[j];
      if (x !== null && x !== undefined) {
        v[i * R + j] = x;
        m[i * R + j] = 1;
      }
    }),
  );
  return { rewards: tf.tensor2d(v, [targets.length, R]), mask: tf.tensor2d(m, [targets.length, R]) };
}

/**
 * Returns one image per caption, [P, P, 3] floats on the 0-255 scale, P = pixelSize(cfg). A latent
 * model's samples are denormalised and decoded by its VAE (`frozen`, from loadFrozen).
 */
export async function sampleImages(
  tf: Tf,
  cfg: ModelConfig,
  params: Params,
  req: SampleRequest,
  frozen: FrozenSession | null = null,
): Promise<Float32Array[]> {
  const B = req.captions.length;
  const S = cfg.image_size;
  const C = cfg.channels;
  const per = S * S * C;
  const noise = new Float32Array(B * per);
  for (let i = 0; i < B; i++) noise.set(new Rng(deriveSeed(req.seed, `noise-${(req.offset ?? 0) + i}`)).normals(per), i * per);
  let x: Tensor = tf.tensor4d(noise, [B, S, S, C]);

  const guided = req.negative !== null && req.guidance !== 0;
  const captions = guided
    ? [...req.captions, ...(req.negativeCaption === 'empty' ? req.captions.map(() => '') : req.captions)]
    : req.captions;
  const targets = guided ? [...req.positive, ...req.negative!] : req.positive;
  const { text, mask: textMask } = await textInputs(tf, cfg, captions, frozen);
  const { rewards, mask: rewardMask } = rewardInputs(tf, cfg, targets);
  const dt = 1 / req.steps;
  for (let i = 0; i < req.steps; i++) {
    const t = 1 - i * dt;
    const next = tf.tidy(() => {
      const xin = guided ? tf.concat([x, x], 0) : x;
      const v = forward(tf, cfg, params, { x: xin, t: tf.fill([xin.shape[0]!], t), text, textMask, rewards, rewardMask });
      const vHat = guided ? guide(tf, tf.slice(v, [0, 0, 0, 0], [B, S, S, C]), tf.slice(v, [B, 0, 0, 0], [B, S, S, C]), req.guidance) : v;
      return tf.sub(x, tf.mul(vHat, dt)); // dx/dt = v, so stepping t down by dt subtracts v dt
    });
    x.dispose();
    x = next;
  }
  const data = (await x.data()) as Float32Array;
  tf.dispose([x, text, textMask, rewards, rewardMask]);
  if (!cfg.frozen)
    return Array.from({ length: B }, (_, i) =>
      Float32Array.from(data.subarray(i * per, (i + 1) * per), (v) => Math.min(255, Math.max(0, (v + 1) * 127.5))),
    );
  // Latents [B, h, w, C] (normalised) -> [B, C, h, w] in the VAE's scale -> decoded pixels.
  const latents = new Float32Array(B * per);
  const chw = new Float32Array(per);
  for (let i = 0; i < B; i++) {
    for (let p = 0; p < S * S; p++) for (let c = 0; c < C; c++) chw[c * S * S + p] = data[i * per + p * C + c]!;
    latents.set(denormalizeLatent(chw, cfg.frozen.vae.normalization), i * per);
  }
  if (!frozen) throw new MiroError('this model samples VAE latents: load its VAE first (loadFrozen)');
  if (frozen.vae.cfg.resolution !== pixelSize(cfg))
    throw new MiroError(
      `the VAE decodes to ${frozen.vae.cfg.resolution} px, the model was trained on latents of ${pixelSize(cfg)} px images`,
    );
  return frozen.vae.decode(latents, B);
}
