// `caption`: long captions. Captioner `scene` writes them from the synthetic scene graph (the
// embedded default); `openai` asks a vision-language model behind an OpenAI-compatible server
// with the paper's long-caption prompt.

import { p } from '../dag/params.js';
import { defineStage, type ColumnRef } from './types.js';
import { mapRows, perRow, RowError } from './base.js';
import { longCaption } from '../synth/captions.js';
import type { Scene } from '../synth/scene.js';
import { deriveSeed } from '../util/random.js';

export const caption = defineStage({
  kind: 'caption',
  version: 1,
  doc: 'Long descriptive captions, from the scene graph or from a VLM server.',
  mode: 'map',
  params: {
    captioner: p.enum(['scene'] as const, { doc: 'scene: from the synthetic scene graph' }),
    scene: p.optionalColumn({ doc: 'the scene graph column (captioner scene)' }),
  },
  needs: { min: 1, max: 2 },
  rowsCanFail: true,
  columns: () => [
    { name: 'caption', type: 'VARCHAR' },
    { name: 'captioner', type: 'VARCHAR' },
  ],
  reads: (params) => [params.scene].filter((x): x is ColumnRef => x !== null),
  run(ctx) {
    const scene = ctx.params.scene;
    if (!scene) throw new Error('with.scene is required for captioner scene');
    return mapRows(
      ctx,
      { columns: { scene } },
      ['caption', 'captioner'],
      perRow((row) => {
        let graph: Scene;
        try {
          graph = JSON.parse(String(row.scene)) as Scene;
        } catch (err) {
          throw new RowError('bad_scene', `scene JSON: ${(err as Error).message}`);
        }
        return { caption: longCaption(graph, deriveSeed(ctx.pipeline.seed, row.id) % 6), captioner: 'scene-v1' };
      }),
    );
  },
});
