// AdamW with decoupled weight decay, global-norm gradient clipping, linear warmup then cosine
// decay, and an exponential moving average of the weights. State is plain tensors by parameter
// name, so checkpoints save and restore it exactly.

import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { Tf } from '../model/backend.js';
import type { Params } from '../model/network.js';

export interface OptimConfig {
  lr: number;
  min_lr: number;
  warmup_steps: number;
  total_steps: number;
  beta1: number;
  beta2: number;
  eps: number;
  weight_decay: number;
  clip_norm: number;
  ema_decay: number;
}

export function learningRate(cfg: OptimConfig, step: number): number {
  if (step < cfg.warmup_steps) return (cfg.lr * (step + 1)) / cfg.warmup_steps;
  const progress = Math.min(1, (step - cfg.warmup_steps) / Math.max(1, cfg.total_steps - cfg.warmup_steps));
  return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + Math.cos(Math.PI * progress));
}

/** No weight decay on gains, positions and learned tokens: only on matrices. */
const decays = (name: string, v: Variable) => v.rank === 2 && !/pos|latents|missing|embed/.test(name);

export class AdamW {
  readonly m = new Map<string, Variable>();
  readonly v = new Map<string, Variable>();
  readonly ema = new Map<string, Variable>();

  constructor(
    private readonly tf: Tf,
    readonly cfg: OptimConfig,
    private readonly params: Params,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
      this.ema.set(name, tf.variable(p.clone(), false));
    }
  }

  /** Applies one update for step `step` (0-based); returns the pre-clip global gradient norm and lr. */
  apply(grads: Record<string, Tensor>, step: number): { gradNorm: number; lr: number } {
    const { tf, cfg } = this;
    const lr = learningRate(cfg, step);
    const gradNorm = tf.tidy(() => Math.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))).dataSync()[0]!));
    const scale = cfg.clip_norm > 0 && gradNorm > cfg.clip_norm ? cfg.clip_norm / gradNorm : 1;
    const t = step + 1;
    const bc1 = 1 - cfg.beta1 ** t;
    const bc2 = 1 - cfg.beta2 ** t;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = tf.mul(grads[name]!, scale);
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, cfg.beta1), tf.mul(g, 1 - cfg.beta1)));
        v.assign(tf.add(tf.mul(v, cfg.beta2), tf.mul(tf.square(g), 1 - cfg.beta2)));
        let update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), cfg.eps));
        if (cfg.weight_decay > 0 && decays(name, p)) update = tf.add(update, tf.mul(p, cfg.weight_decay));
        p.assign(tf.sub(p, tf.mul(update, lr)));
        const e = this.ema.get(name)!;
        e.assign(tf.add(tf.mul(e, cfg.ema_decay), tf.mul(p, 1 - cfg.ema_decay)));
      }
    });
    return { gradNorm, lr };
  }
}
