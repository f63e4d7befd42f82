// `score`: one reward per node. Decodes each image, hands batches to a scorer, and writes
// (id, score, status, error) as `score_<name>`. A scorer's null is a missing reward (the caption
// makes no claim of that kind), kept as NULL with status ok; never 0.

import path from 'node:path';
import pLimit from 'p-limit';
import { p, type ParamsOf } from './params.js';
import { defineStage, type Batch, type ColumnRef, type ShardContext } from './types.js';
import { mapRows, type RowResult } from './base.js';
import { RowError } from '../errors.js';
import { BUILTIN_SCORER_NAMES, loadScorer, scorerIdentity, type Scorer, type ScoreResult, scorerReadsCaption } from '../scorers/index.js';
import { suggestion } from '../util/suggest.js';
import { shardName } from '../store/layout.js';
import { decodeImage, type RGBImage } from '../util/image.js';
import { errorMessage } from '../errors.js';

const params = {
  scorer: p.string({
    doc: 'a built-in scorer (colourfulness, sharpness, contrast, cleanliness, objects, counting, position), onnx:<config> or vlm:<config>',
  }),
  name: p.string({ doc: 'the reward name in views, bins and the model (default: the scorer)', default: '' }),
  image: p.column({ doc: 'the image column' }),
  caption: p.optionalColumn({ doc: 'the caption column, for scorers that read text' }),
  batch_size: p.int({ doc: 'images per scorer call', min: 1, default: 64 }),
};
type ScoreParams = ParamsOf<typeof params>;

export const score = defineStage({
  kind: 'score',
  version: 1,
  doc: 'A reward score per image (and caption).',
  mode: 'map',
  params,
  needs: { min: 1, max: 3 },
  rowsCanFail: true,
  columns: () => [{ name: 'score', type: 'DOUBLE' }],
  reads: (params) => [params.image, params.caption].filter((x): x is ColumnRef => x !== null),
  validate: (params) => {
    // A built-in name is checked where the pipeline loads, with a suggestion (colorfulness -> colourfulness).
    if (!/^(onnx|vlm):/.test(params.scorer) && !BUILTIN_SCORER_NAMES.includes(params.scorer))
      return `unknown scorer "${params.scorer}"${suggestion(params.scorer, BUILTIN_SCORER_NAMES)} (built in: ${BUILTIN_SCORER_NAMES.join(', ')}; or onnx:<config>, vlm:<config>)`;
    return scorerReadsCaption(params.scorer) && !params.caption ? `scorer ${params.scorer} reads captions: set caption: node.column` : null;
  },
  identity: (params) => scorerIdentity(params.scorer),
  async *run(ctx) {
    const loaded = await loadScorer(ctx.params.scorer);
    // A scorer that asks a server keeps its finished requests beside the node, per shard.
    const scorer = loaded.withCache
      ? await loaded.withCache(path.join(ctx.layout.cacheDir(), `shard-${shardName(ctx.shard)}.jsonl`), {
          retryFailures: ctx.retry !== null,
        })
      : { ...loaded, close: async () => {} };
    try {
      yield* scoreRows(ctx, scorer);
    } finally {
      await scorer.close();
    }
  },
});

/** Decodes each row's image and scores the decodable ones in batches; a failed image or score is the row's error. */
async function* scoreRows(ctx: ShardContext<ScoreParams>, scorer: Scorer<ScoreResult>): AsyncIterable<Batch> {
  const columns: Record<string, ColumnRef> = { image: ctx.params.image };
  if (ctx.params.caption) columns.caption = ctx.params.caption;
  const decodeLimit = pLimit(8);
  yield* mapRows(ctx, { columns, batchRows: ctx.params.batch_size }, ['score'], async (rows) => {
    const decoded = await Promise.all(
      rows.map((r) =>
        decodeLimit(async (): Promise<RGBImage | RowError> => {
          if (!(r.image instanceof Uint8Array)) return new RowError('no_image', 'image is NULL');
          return decodeImage(r.image).catch((err) => new RowError('decode_error', errorMessage(err)));
        }),
      ),
    );
    const good = rows
      .map((r, i) => ({ r, img: decoded[i]! }))
      .filter((x): x is { r: typeof x.r; img: RGBImage } => !(x.img instanceof RowError));
    const scores = await scorer.score(
      good.map((g) => ({ id: g.r.id, image: g.img, caption: (g.r.caption as string | null) ?? null, bytes: g.r.image as Uint8Array })),
    );
    const byId = new Map(good.map((g, i) => [g.r.id, scores[i]]));
    return rows.map((r, i): RowResult => {
      const d = decoded[i]!;
      if (d instanceof RowError) return d;
      const s = byId.get(r.id);
      if (s instanceof RowError) return s;
      if (s !== null && s !== undefined && !Number.isFinite(s)) return new RowError('bad_score', `scorer returned ${s}`);
      return { score: s ?? null };
    });
  });
}
