// `short_caption`: captions that fit the 77-token text encoders of several reward models.
// Summariser `summary` condenses the long caption deterministically (the embedded default);
// `openai` asks the VLM server with the paper's short-caption prompt (configs/prompts/short.txt).

import { p } from './params.js';
import { defineStage, type ColumnRef } from './types.js';
import { mapRows, perRow } from './base.js';
import { clipTokenBound, shortCaption as summarise } from '../synth/captions.js';
import { vlmParams, validateVlm, vlmIdentity, captionWithServer } from './caption-server.js';
import { CAPTION_COLUMNS } from './caption.js';

const COLUMNS = [...CAPTION_COLUMNS, 'tokens'];

export const shortCaption = defineStage({
  kind: 'short_caption',
  version: 2,
  doc: 'Short captions (at most max_tokens CLIP tokens), from the long ones or from a VLM server.',
  mode: 'map',
  params: {
    summarizer: p.enum(['summary', 'openai'] as const, {
      doc: 'summary: deterministic condensation of the long caption; openai: a VLM server',
    }),
    caption: p.optionalColumn({ doc: 'the long caption column (summarizer summary)' }),
    max_caption_tokens: p.int({
      doc: 'token budget, counted with a conservative CLIP BPE bound (see synth/captions.ts)',
      min: 8,
      default: 77,
    }),
    ...vlmParams,
  },
  needs: { min: 1, max: 2 },
  rowsCanFail: true,
  columns: () => [...CAPTION_COLUMNS.map((name) => ({ name, type: 'VARCHAR' as const })), { name: 'tokens', type: 'INTEGER' as const }],
  reads: (prm) => [prm.caption, prm.image, prm.alt_text].filter((x): x is ColumnRef => x !== null),
  validate: (prm) =>
    prm.summarizer === 'summary' ? (prm.caption ? null : 'summarizer summary needs caption: node.column') : validateVlm(prm),
  identity: (prm) => (prm.summarizer === 'openai' ? vlmIdentity(prm) : null),
  async *run(ctx) {
    const prm = ctx.params;
    if (prm.summarizer === 'openai') {
      yield* captionWithServer(ctx, COLUMNS, (r) => ({ tokens: clipTokenBound(String(r.caption)) }));
      return;
    }
    yield* mapRows(
      ctx,
      { columns: { long: prm.caption! } },
      COLUMNS,
      perRow((row) => {
        const text = summarise(String(row.long ?? ''), prm.max_caption_tokens);
        return { caption: text, captioner: 'summary-v1', prompt_sha256: null, server_model: null, tokens: clipTokenBound(text) };
      }),
    );
  },
});
