// `synth`: the embedded default's image source. Procedural scenes of coloured shapes, rendered
// deterministically from the pipeline seed and the row index, with alt-text-like captions and
// a spread of quality. The scene graph is kept as JSON, for evaluation only.

import { p } from './params.js';
import { defineStage, sourceShardCount } from './types.js';
import { generateScene, renderScene } from '../synth/scene.js';
import { altText } from '../synth/captions.js';
import { encodePng } from '../util/image.js';
import { deriveSeed, mulberry32 } from '../util/random.js';

export const synth = defineStage({
  kind: 'synth',
  version: 2,
  doc: 'Procedural scenes with alt-text captions, quality varied on purpose.',
  mode: 'source',
  params: {
    count: p.int({ doc: 'number of images', min: 1 }),
    size: p.int({ doc: 'image side in pixels', min: 16, max: 64, default: 32 }),
    min_objects: p.int({ doc: 'fewest objects in a scene', min: 0, max: 4, default: 1 }),
    max_objects: p.int({ doc: 'most objects in a scene', min: 1, max: 4, default: 4 }),
    degrade_probability: p.number({
      doc: 'chance that each degradation (blur, noise, low contrast, desaturation, clutter) is applied',
      min: 0,
      max: 1,
      default: 0.4,
    }),
    shards: p.int({ doc: 'shard count (default: settings.shards)', min: 1, default: 0 }),
  },
  needs: { min: 0, max: 0 },
  rowsCanFail: false,
  columns: () => [
    { name: 'caption', type: 'VARCHAR' },
    { name: 'image', type: 'BLOB' },
    { name: 'width', type: 'INTEGER' },
    { name: 'height', type: 'INTEGER' },
    { name: 'scene', type: 'VARCHAR' },
  ],
  sourceShards: (params, settings) => sourceShardCount(params.shards, params.count, settings),
  async *run(ctx) {
    const { count, size } = ctx.params;
    const lo = Math.floor((ctx.shard * count) / ctx.shards);
    const hi = Math.floor(((ctx.shard + 1) * count) / ctx.shards);
    const BATCH = 256;
    for (let start = lo; start < hi; start += BATCH) {
      const end = Math.min(hi, start + BATCH);
      const ids: string[] = [];
      const captions: string[] = [];
      const scenes: string[] = [];
      const images: Promise<Uint8Array>[] = [];
      for (let i = start; i < end; i++) {
        const rand = mulberry32(deriveSeed(ctx.pipeline.seed, `scene-${i}`));
        const scene = generateScene(rand, {
          minObjects: ctx.params.min_objects,
          maxObjects: Math.max(ctx.params.min_objects, ctx.params.max_objects),
          degradeProbability: ctx.params.degrade_probability,
        });
        images.push(encodePng(renderScene(scene, size, rand), size, size));
        captions.push(altText(scene, rand));
        scenes.push(JSON.stringify(scene));
        ids.push(`s${String(i).padStart(8, '0')}`);
      }
      const n = end - start;
      ctx.progress(end - lo, hi - lo);
      yield {
        rows: n,
        columns: {
          id: ids,
          caption: captions,
          image: await Promise.all(images),
          width: new Int32Array(n).fill(size),
          height: new Int32Array(n).fill(size),
          scene: scenes,
        },
      };
    }
  },
});
