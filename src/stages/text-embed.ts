// `text_embed`: a caption column through a frozen ONNX text encoder (FLAN-T5-XL in the paper),
// stored per row as the caption's own tokens' states in float16: `embedding` is a BLOB of
// tokens x embed_dim half floats, row-major; `tokens` says how many. The node's manifest records
// the encoder, its width and the layout, so a reader needs nothing else. A map stage: a killed
// run resumes at the first uncommitted shard, with no request cache to keep.

import path from 'node:path';
import { p } from './params.js';
import { defineStage } from './types.js';
import { mapRows, type RowResult } from './base.js';
import { RowError } from '../errors.js';
import { OnnxTextEncoder } from '../frozen/text-encoder.js';
import { frozenIdentity, loadTextEncoderConfig } from '../frozen/config.js';
import { encodeFloat16 } from '../util/float16.js';

/** What a text_embed node's manifest records (its prepare() state). */
export interface TextEmbedState {
  encoder: string;
  config: string;
  embed_dim: number;
  max_tokens: number;
  dtype: 'float16';
  layout: 'tokens x embed_dim, row-major, the caption tokens only (no padding)';
}

export const textEmbed = defineStage({
  kind: 'text_embed',
  version: 1,
  doc: 'Per-token states of a caption column from a frozen ONNX text encoder, float16.',
  mode: 'map',
  params: {
    encoder: p.string({ doc: 'text-encoder config, e.g. configs/encoders/flan-t5-xl.yaml' }),
    caption: p.column({ doc: 'the caption column to encode' }),
    batch_rows: p.int({ doc: 'rows read per batch (the encoder batches by its config)', min: 1, default: 256 }),
  },
  needs: { min: 1, max: 2 },
  rowsCanFail: true,
  columns: () => [
    { name: 'embedding', type: 'BLOB' },
    { name: 'tokens', type: 'INTEGER' },
  ],
  reads: (prm) => [prm.caption],
  identity: (prm) => frozenIdentity(loadTextEncoderConfig(prm.encoder)),
  prepare: async (ctx): Promise<TextEmbedState> => {
    const cfg = loadTextEncoderConfig(ctx.params.encoder);
    return {
      encoder: cfg.name,
      config: path.resolve(ctx.params.encoder),
      embed_dim: cfg.embed_dim,
      max_tokens: cfg.text.max_tokens,
      dtype: 'float16',
      layout: 'tokens x embed_dim, row-major, the caption tokens only (no padding)',
    };
  },
  async *run(ctx) {
    const encoder = await OnnxTextEncoder.load(ctx.params.encoder);
    yield* mapRows(
      ctx,
      { columns: { caption: ctx.params.caption }, batchRows: ctx.params.batch_rows },
      ['embedding', 'tokens'],
      async (rows) => {
        // A missing caption is a missing embedding (NULL, status ok), as a scorer's null is a missing reward.
        const present = rows.filter((r) => typeof r.caption === 'string');
        const states = await encoder.encode(present.map((r) => r.caption as string));
        const byId = new Map(present.map((r, i) => [r.id, states[i]!]));
        return rows.map((r): RowResult => {
          const s = byId.get(r.id);
          if (!s) return { embedding: null, tokens: null };
          if (!s.data.every(Number.isFinite)) return new RowError('bad_embedding', 'the text encoder returned a non-finite value');
          return { embedding: encodeFloat16(s.data), tokens: s.tokens };
        });
      },
    );
  },
});
