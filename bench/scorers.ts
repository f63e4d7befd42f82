// Images per second for each built-in scorer on 32x32 images (decoded, as the score stage sees them).

import { BUILTIN_SCORERS } from '../src/scorers/index.ts';
import { generateScene, renderScene } from '../src/synth/scene.ts';
import { altText } from '../src/synth/captions.ts';
import { mulberry32 } from '../src/util/random.ts';
import { encodePng, decodeImage } from '../src/util/image.ts';
import { report } from './util.ts';

const N = 2000;
const inputs = Array.from({ length: N }, (_, i) => {
  const rand = mulberry32(i);
  const scene = generateScene(rand, { minObjects: 1, maxObjects: 4, degradeProbability: 0.4 });
  return { image: { width: 32, height: 32, data: renderScene(scene, 32, rand) }, caption: altText(scene, rand) };
});

const pngs = await Promise.all(inputs.map((x) => encodePng(x.image.data, 32, 32)));
let t0 = performance.now();
await Promise.all(pngs.map((p) => decodeImage(p)));
report('scorers.png_decode_32px', N / ((performance.now() - t0) / 1000), 'images/s');

for (const scorer of Object.values(BUILTIN_SCORERS)) {
  await scorer.score(inputs.slice(0, 50));
  t0 = performance.now();
  for (let i = 0; i < N; i += 64) await scorer.score(inputs.slice(i, i + 64));
  report(`scorers.${scorer.name}_32px`, N / ((performance.now() - t0) / 1000), 'images/s');
}
