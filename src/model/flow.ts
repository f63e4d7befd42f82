// Flow matching (docs/method.md, section 4): x_t = (1 - t) x + t n, target v = n - x, loss = mean (v_theta - v)^2.
// Time is uniform or logit-normal (t = sigmoid(N(0, 1)), the official code's choice). Guidance:
// v_hat = v(s+) + w (v(s+) - v(s-)).

import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from './backend.js';

export type TimeSampling = 'uniform' | 'logit_normal';

export function sampleTime(kind: TimeSampling, uniform: () => number, normal: () => number): number {
  return kind === 'uniform' ? uniform() : 1 / (1 + Math.exp(-normal()));
}

/** x_t and the velocity target for data x, noise n and times t ([B]). */
export function interpolate(tf: Tf, x: Tensor, n: Tensor, t: Tensor): { xt: Tensor; target: Tensor } {
  const tb = tf.reshape(t, [-1, ...Array(x.rank - 1).fill(1)]); // [B, 1, 1, 1]
  return { xt: tf.add(tf.mul(tf.sub(1, tb), x), tf.mul(tb, n)), target: tf.sub(n, x) };
}

export function flowLoss(tf: Tf, predicted: Tensor, target: Tensor): Tensor {
  return tf.mean(tf.square(tf.sub(predicted, target)));
}

/** Multi-reward classifier-free guidance. */
export function guide(tf: Tf, vPos: Tensor, vNeg: Tensor, w: number): Tensor {
  return tf.add(vPos, tf.mul(tf.sub(vPos, vNeg), w));
}
