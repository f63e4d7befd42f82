// `caption`: long captions. Captioner `scene` writes them from the synthetic scene graph (the
// embedded default); `openai` asks a vision-language model behind an OpenAI-compatible server
// with the paper's long-caption prompt (configs/prompts/long.txt).

import { p } from './params.js';
import { defineStage, type ColumnRef } from './types.js';
import { mapRows, perRow } from './base.js';
import { RowError } from '../errors.js';
import { longCaption } from '../synth/captions.js';
import type { Scene } from '../synth/scene.js';
import { deriveSeed } from '../util/random.js';
import { vlmParams, validateVlm, vlmIdentity, captionWithServer } from './caption-server.js';

export const CAPTION_COLUMNS = ['caption', 'captioner', 'prompt_sha256', 'server_model'];

export const caption = defineStage({
  kind: 'caption',
  version: 2,
  doc: 'Long descriptive captions, from the scene graph or from a VLM server.',
  mode: 'map',
  params: {
    captioner: p.enum(['scene', 'openai'] as const, { doc: 'scene: from the synthetic scene graph; openai: a VLM server' }),
    scene: p.optionalColumn({ doc: 'the scene graph column (captioner scene)' }),
    ...vlmParams,
  },
  needs: { min: 1, max: 2 },
  rowsCanFail: true,
  columns: () => CAPTION_COLUMNS.map((name) => ({ name, type: 'VARCHAR' as const })),
  reads: (prm) => [prm.scene, prm.image, prm.alt_text].filter((x): x is ColumnRef => x !== null),
  validate: (prm) => (prm.captioner === 'scene' ? (prm.scene ? null : 'captioner scene needs scene: node.column') : validateVlm(prm)),
  identity: (prm) => (prm.captioner === 'openai' ? vlmIdentity(prm) : null),
  async *run(ctx) {
    const prm = ctx.params;
    if (prm.captioner === 'openai') {
      yield* captionWithServer(ctx, CAPTION_COLUMNS);
      return;
    }
    yield* mapRows(
      ctx,
      { columns: { scene: prm.scene! } },
      CAPTION_COLUMNS,
      perRow((row) => {
        let graph: Scene;
        try {
          graph = JSON.parse(String(row.scene)) as Scene;
        } catch (err) {
          throw new RowError('bad_scene', `scene JSON: ${(err as Error).message}`);
        }
        return {
          caption: longCaption(graph, deriveSeed(ctx.pipeline.seed, row.id) % 6),
          captioner: 'scene-v1',
          prompt_sha256: null,
          server_model: null,
        };
      }),
    );
  },
});
