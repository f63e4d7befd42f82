// `short_caption`: captions that fit the 77-token text encoders of several reward models.
// Summariser `summary` condenses the long caption deterministically (the embedded default).

import { p } from '../dag/params.js';
import { defineStage } from './types.js';
import { mapRows, perRow } from './base.js';
import { clipTokenBound, shortCaption as summarise } from '../synth/captions.js';

export const shortCaption = defineStage({
  kind: 'short_caption',
  version: 1,
  doc: 'Short captions (at most max_tokens CLIP tokens) from the long ones.',
  mode: 'map',
  params: {
    summarizer: p.enum(['summary'] as const, { doc: 'summary: deterministic condensation of the long caption' }),
    caption: p.column({ doc: 'the long caption column' }),
    max_tokens: p.int({ doc: 'token budget, counted with a conservative CLIP BPE bound (see synth/captions.ts)', min: 8, default: 77 }),
  },
  needs: { min: 1, max: 2 },
  rowsCanFail: true,
  columns: () => [
    { name: 'caption', type: 'VARCHAR' },
    { name: 'tokens', type: 'INTEGER' },
  ],
  reads: (params) => [params.caption],
  run(ctx) {
    return mapRows(
      ctx,
      { columns: { long: ctx.params.caption } },
      ['caption', 'tokens'],
      perRow((row) => {
        const text = summarise(String(row.long ?? ''), ctx.params.max_tokens);
        return { caption: text, tokens: clipTokenBound(text) };
      }),
    );
  },
});
