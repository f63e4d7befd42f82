// Training data, streamed from Parquet through DuckDB. The source query gives one row per
// sample (id, image bytes, real and synthetic captions, one target per reward); rows are
// materialised once into a DuckDB table (which spills to disk when large), and each epoch reads
// them in an order that depends only on the seed and the epoch: md5(id, seed, epoch). The
// cursor (epoch, position) is all a checkpoint needs to resume the exact same stream.

import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows } from '../store/duck.js';
import { decodeImage } from '../util/image.js';
import { tokenize } from '../model/tokenizer.js';
import { deriveSeed, mulberry32 } from '../util/random.js';
import { MiroError } from '../errors.js';

export interface TrainBatch {
  ids: string[];
  /** [B, S, S, C] pixels scaled to [-1, 1]. */
  x: Float32Array;
  captions: string[];
  tokens: Int32Array;
  textMask: Float32Array;
  /** [B, R] targets; 0 where missing (and mask 0). */
  targets: Float32Array;
  targetMask: Float32Array;
}

export interface LoaderOptions {
  /** SELECT id, image, caption_real, caption_synthetic, <reward targets...> */
  sourceSql: string;
  rewards: string[];
  seed: number;
  batchSize: number;
  imageSize: number;
  vocab: string[];
  maxTokens: number;
  /** Share of batches' captions that are the real (alt-text) ones; the rest are synthetic. */
  realCaptionRatio: number;
  /** Fraction of rows held out from training for evaluation (by a hash of the id). */
  holdout: number;
  /** Share of captions replaced by the empty caption, so text-only classifier-free guidance can be used. */
  captionDropout?: number;
}

/** SQL predicate: whether a row is held out from training (a hash of id and seed below `fraction`). */
export function heldOutSql(seed: number, fraction: number): string {
  return `((('0x' || md5(id || ':holdout:' || ${seed})[1:8])::BIGINT / 4294967296.0) < ${fraction})`;
}

export class ShardLoader {
  private rows = 0;
  private orderedEpoch = -1;
  cursor = { epoch: 0, position: 0 };

  constructor(
    private readonly conn: DuckDBConnection,
    private readonly opts: LoaderOptions,
  ) {}

  async open(): Promise<{ trainRows: number; heldOut: number }> {
    const { seed, holdout } = this.opts;
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE all_rows AS ${this.opts.sourceSql}`);
    const split = heldOutSql(seed, holdout);
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE train_rows AS SELECT * FROM all_rows WHERE image IS NOT NULL AND NOT ${split}`);
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE heldout_rows AS SELECT * FROM all_rows WHERE image IS NOT NULL AND ${split}`);
    this.rows = Number((await queryRows(this.conn, 'SELECT count(*) AS n FROM train_rows'))[0]!.n);
    const heldOut = Number((await queryRows(this.conn, 'SELECT count(*) AS n FROM heldout_rows'))[0]!.n);
    if (this.rows < this.opts.batchSize)
      throw new MiroError(`training needs at least batch_size=${this.opts.batchSize} rows with images, found ${this.rows}`);
    return { trainRows: this.rows, heldOut };
  }

  private async orderEpoch(epoch: number): Promise<void> {
    if (this.orderedEpoch === epoch) return;
    await this.conn.run(
      `CREATE OR REPLACE TEMP TABLE epoch_order AS SELECT row_number() OVER (ORDER BY md5(id || ':' || ${this.opts.seed} || ':' || ${epoch}), id) - 1 AS pos, * FROM train_rows ORDER BY pos`,
    );
    this.orderedEpoch = epoch;
  }

  /** The next batch; epochs wrap and drop their last partial batch. */
  async next(): Promise<TrainBatch> {
    if (this.cursor.position + this.opts.batchSize > this.rows) this.cursor = { epoch: this.cursor.epoch + 1, position: 0 };
    await this.orderEpoch(this.cursor.epoch);
    const { position } = this.cursor;
    const rows = await queryRows(
      this.conn,
      `SELECT * EXCLUDE (pos) FROM epoch_order WHERE pos >= ${position} AND pos < ${position + this.opts.batchSize} ORDER BY pos`,
    );
    const epoch = this.cursor.epoch;
    this.cursor = { epoch, position: position + this.opts.batchSize };
    return this.assemble(rows, epoch);
  }

  /** Rows held out from training, in a fixed order (for evaluation during training). */
  async heldOut(limit: number): Promise<Record<string, unknown>[]> {
    return queryRows(
      this.conn,
      `SELECT id, caption_real, caption_synthetic FROM heldout_rows ORDER BY md5(id || ':eval'), id LIMIT ${limit}`,
    );
  }

  private async assemble(rows: Record<string, unknown>[], epoch: number): Promise<TrainBatch> {
    const { imageSize: S, rewards, maxTokens, vocab } = this.opts;
    const B = rows.length;
    const x = new Float32Array(B * S * S * 3);
    const images = await Promise.all(rows.map((r) => decodeImage(r.image as Uint8Array)));
    images.forEach((img, i) => {
      if (img.width !== S || img.height !== S)
        throw new MiroError(`row ${rows[i]!.id}: image is ${img.width}x${img.height}, the model expects ${S}x${S}`);
      for (let k = 0; k < img.data.length; k++) x[i * S * S * 3 + k] = img.data[k]! / 127.5 - 1;
    });
    // Real or synthetic caption: a coin per (seed, epoch, id), independent of batch order.
    const captions = rows.map((r) => {
      const coin = mulberry32(deriveSeed(this.opts.seed, `${r.id}:${epoch}:caption`))();
      const real = r.caption_real as string | null;
      const synthetic = r.caption_synthetic as string | null;
      const dropped =
        (this.opts.captionDropout ?? 0) > 0 &&
        mulberry32(deriveSeed(this.opts.seed, `${r.id}:${epoch}:drop`))() < this.opts.captionDropout!;
      return dropped ? '' : ((coin < this.opts.realCaptionRatio ? (real ?? synthetic) : (synthetic ?? real)) ?? '');
    });
    const tokens = new Int32Array(B * maxTokens);
    const textMask = new Float32Array(B * maxTokens);
    captions.forEach((c, i) => {
      const ids = tokenize(c, vocab, maxTokens);
      tokens.set(ids, i * maxTokens);
      for (let k = 0; k < maxTokens; k++) textMask[i * maxTokens + k] = ids[k] !== 0 || k === 0 ? 1 : 0;
    });
    const R = rewards.length;
    const targets = new Float32Array(B * R);
    const targetMask = new Float32Array(B * R);
    rows.forEach((r, i) =>
      rewards.forEach((name, j) => {
        const v = r[`target_${name}`] as number | null;
        if (v !== null && v !== undefined) {
          targets[i * R + j] = v;
          targetMask[i * R + j] = 1;
        }
      }),
    );
    return { ids: rows.map((r) => String(r.id)), x, captions, tokens, textMask, targets, targetMask };
  }
}
