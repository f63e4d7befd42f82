// The seven weight-free rewards on hand-made images with known answers, and their monotonic
// responses to the degradations they are meant to see.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colourfulness, sharpness, contrast, cleanliness, noiseSigma } from '../src/scorers/metrics.ts';
import { objectF1, countingAgreement, spatialAgreement } from '../src/scorers/agreement.ts';
import { detect } from '../src/synth/detector.ts';
import { degrade, renderClean, CLEAN, type Scene } from '../src/synth/scene.ts';
import { mulberry32 } from '../src/util/random.ts';
import type { RGBImage } from '../src/util/image.ts';

function image(w: number, h: number, px: (x: number, y: number) => [number, number, number]): RGBImage {
  const data = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(px(x, y), (y * w + x) * 3);
  return { width: w, height: h, data };
}

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('a flat grey image scores zero colourfulness, sharpness, contrast and noise', () => {
  const g = image(8, 8, () => [128, 128, 128]);
  close(colourfulness(g), 0, 1e-6);
  close(sharpness(g), 0);
  close(contrast(g), 0, 1e-6);
  close(cleanliness(g), 0);
});

test('colourfulness of a flat pure red image is 0.3 * |(rg, yb)| = 0.3 * sqrt(255^2 + 127.5^2)', () => {
  close(colourfulness(image(4, 4, () => [255, 0, 0])), 0.3 * Math.hypot(255, 127.5), 1e-6);
});

test('RMS contrast of a half-black, half-white image is 0.5', () => {
  close(contrast(image(4, 4, (x) => (x < 2 ? [0, 0, 0] : [255, 255, 255]))), 0.5, 1e-6);
});

test('sharpness of a step edge is 1 and of a three-step ramp 1/3, computed by hand', () => {
  close(sharpness(image(8, 8, (x) => (x < 4 ? [0, 0, 0] : [255, 255, 255]))), 1, 1e-6);
  const ramp = [0, 0, 0, 85, 170, 255, 255, 255];
  close(sharpness(image(8, 8, (x) => [ramp[x]!, ramp[x]!, ramp[x]!])), 85 / 255, 1e-6);
});

test('noise estimate: edges do not count, Gaussian noise is measured', () => {
  // One bright pixel touches 9 of the 49 inner positions: the median of |I * N| is 0.
  close(noiseSigma(image(9, 9, (x, y) => (x === 4 && y === 4 ? [200, 200, 200] : [50, 50, 50]))), 0);
  const rand = mulberry32(3);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const noisy = image(64, 64, () => {
    const v = 128 + 10 * normal();
    return [v, v, v];
  });
  assert.ok(Math.abs(noiseSigma(noisy) - 10) < 1, `sigma ${noiseSigma(noisy)} for noise of 10`);
  close(cleanliness(noisy), -noiseSigma(noisy));
});

const scene: Scene = {
  background: 'gray',
  objects: [
    { shape: 'circle', colour: 'red', size: 'large', x: 0.3, y: 0.35 },
    { shape: 'square', colour: 'blue', size: 'medium', x: 0.72, y: 0.65 },
  ],
  cut: false,
  degradations: CLEAN,
};
const clean = renderClean(scene, 32);
const variant = (d: Partial<typeof CLEAN>) => ({ width: 32, height: 32, data: degrade(clean, 32, { ...CLEAN, ...d }, mulberry32(9)) });

function decreasing(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) assert.ok(values[i]! < values[i - 1]!, `${what} not decreasing: ${values.join(', ')}`);
}

test('more blur lowers sharpness', () =>
  decreasing(
    [0, 0.5, 1, 1.5].map((blur) => sharpness(variant({ blur }))),
    'sharpness',
  ));
test('noise does not raise sharpness', () => {
  const clean = sharpness(variant({}));
  for (const noise of [5, 15, 30])
    assert.ok(sharpness(variant({ noise })) <= clean, `noise ${noise}: ${sharpness(variant({ noise }))} > ${clean}`);
});
test('more noise lowers cleanliness', () =>
  decreasing(
    [0, 5, 15, 30].map((noise) => cleanliness(variant({ noise }))),
    'cleanliness',
  ));
test('desaturation lowers colourfulness', () =>
  decreasing(
    [1, 0.7, 0.4, 0.1].map((saturation) => colourfulness(variant({ saturation }))),
    'colourfulness',
  ));
test('lower contrast lowers RMS contrast', () =>
  decreasing(
    [1, 0.7, 0.4].map((c) => contrast(variant({ contrast: c }))),
    'contrast',
  ));

test('object, counting and position agreement against captions with known answers', () => {
  const det = detect({ width: 32, height: 32, data: clean });
  assert.equal(objectF1('a red circle and a blue square', det), 1);
  assert.equal(objectF1('a circle and a square', det), 1);
  assert.equal(objectF1('a green triangle', det), 0);
  close(objectF1('a red circle', det), 2 / 3); // precision 1/2, recall 1
  assert.equal(objectF1('abstract shapes', det), 0);
  assert.equal(countingAgreement('a red circle and a blue square', det), 1);
  assert.equal(countingAgreement('two red circles', det), 0.5);
  assert.equal(countingAgreement('image', det), null);
  assert.equal(spatialAgreement('a red circle left of a blue square', det), 1);
  assert.equal(spatialAgreement('a red circle below a blue square', det), 0);
  assert.equal(spatialAgreement('The red circle is to the left of the blue square. The blue square is above the red circle.', det), 0.5);
  assert.equal(spatialAgreement('a red circle', det), null);
});
