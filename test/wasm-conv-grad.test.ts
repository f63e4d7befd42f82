// The wasm backend's Conv2DBackpropFilter (src/model/wasm-conv-grad.ts): the same filter gradient
// as the cpu backend for every padding and stride a network uses, and the same as finite
// differences of the loss, so conv2d layers train on wasm.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as TF from '@tensorflow/tfjs';
import { loadTf } from '../src/model/backend.ts';
import { mulberry32, gaussian } from '../src/util/random.ts';

const normal = (seed: number, n: number) => {
  const g = gaussian(mulberry32(seed));
  return Float32Array.from({ length: n }, () => g());
};

const CASES = [
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 9, 7, 5], f: [3, 3, 5, 6], strides: 2, pad: 'same' },
  { x: [1, 8, 8, 4], f: [3, 3, 4, 2], strides: 1, pad: 'valid' },
  { x: [3, 6, 6, 2], f: [1, 1, 2, 5], strides: 1, pad: 'valid' },
  { x: [2, 10, 10, 3], f: [4, 4, 3, 2], strides: 2, pad: 1 },
] as const;

test('wasm Conv2DBackpropFilter matches the cpu backend and finite differences', async () => {
  const { tf, backend } = await loadTf('wasm');
  assert.equal(backend, 'wasm');
  const filterGrad = (c: (typeof CASES)[number], xs: Float32Array, ws: Float32Array, dys: Float32Array) =>
    tf.tidy(() => {
      const x = tf.tensor4d(xs, c.x as unknown as [number, number, number, number]);
      const dy = (y: TF.Tensor) => tf.tensor(dys, y.shape);
      const f = (w: TF.Tensor) => {
        const y = tf.conv2d(x, w as TF.Tensor4D, c.strides, c.pad as 'same');
        return tf.sum(tf.mul(y, dy(y)));
      };
      return tf
        .grad(f)(tf.tensor4d(ws, c.f as unknown as [number, number, number, number]))
        .dataSync() as Float32Array;
    });
  for (const [i, c] of CASES.entries()) {
    const xs = normal(
      10 + i,
      (c.x as readonly number[]).reduce((a, b) => a * b, 1),
    );
    const ws = normal(
      20 + i,
      (c.f as readonly number[]).reduce((a, b) => a * b, 1),
    );
    // dy's shape: run the forward once to learn it.
    await tf.setBackend('wasm');
    const yShape = tf.tidy(() => tf.conv2d(tf.tensor4d(xs, c.x as never), tf.tensor4d(ws, c.f as never), c.strides, c.pad as 'same').shape);
    const dys = normal(
      30 + i,
      yShape.reduce((a, b) => a * b, 1),
    );
    const onWasm = filterGrad(c, xs, ws, dys);
    await tf.setBackend('cpu');
    const onCpu = filterGrad(c, xs, ws, dys);
    await tf.setBackend('wasm');
    const worst = onWasm.reduce((m, v, k) => Math.max(m, Math.abs(v - onCpu[k]!)), 0);
    assert.ok(worst < 1e-4, `case ${i}: wasm and cpu differ by ${worst}`);
    // Finite differences of L(w) = sum(conv(x, w) * dy) along a few coordinates, in float64.
    const loss = (w: Float32Array) =>
      tf.tidy(
        () =>
          tf
            .sum(
              tf.mul(
                tf.conv2d(tf.tensor4d(xs, c.x as never), tf.tensor4d(w, c.f as never), c.strides, c.pad as 'same'),
                tf.tensor(dys, yShape),
              ),
            )
            .dataSync()[0]!,
      );
    for (const k of [0, Math.floor(ws.length / 2), ws.length - 1]) {
      const h = 1e-2;
      const plus = Float32Array.from(ws);
      const minus = Float32Array.from(ws);
      plus[k]! += h;
      minus[k]! -= h;
      const numeric = (loss(plus) - loss(minus)) / (2 * h);
      assert.ok(
        Math.abs(numeric - onWasm[k]!) < 2e-2 * Math.max(1, Math.abs(numeric)),
        `case ${i}, weight ${k}: ${onWasm[k]} vs finite difference ${numeric}`,
      );
    }
  }
});

test('a conv2d layer trains on wasm: the loss of a small fit falls', async () => {
  const { tf } = await loadTf('wasm');
  await tf.setBackend('wasm');
  const x = tf.tensor4d(normal(1, 4 * 8 * 8 * 2), [4, 8, 8, 2]);
  const target = tf.conv2d(x, tf.tensor4d(normal(2, 3 * 3 * 2 * 3), [3, 3, 2, 3]), 1, 'same');
  const w = tf.variable(tf.zeros([3, 3, 2, 3]));
  const opt = tf.train.adam(0.05);
  const losses: number[] = [];
  for (let i = 0; i < 60; i++) {
    const l = opt.minimize(() => tf.mean(tf.square(tf.sub(tf.conv2d(x, w as TF.Tensor4D, 1, 'same'), target))) as TF.Scalar, true)!;
    losses.push(l.dataSync()[0]!);
    l.dispose();
  }
  assert.ok(losses.at(-1)! < 0.05 * losses[0]!, `loss went from ${losses[0]} to ${losses.at(-1)}`);
});
