// Training data, streamed from Parquet through DuckDB one window of input shards at a time. The
// order is written down in src/train/stream.ts (and followed by python/miro_torch/stream.py), so
// both engines read the same rows in the same order; memory is one window, never the dataset.
// The cursor (epoch, window, offset) is all a checkpoint needs to resume the exact same stream.

import type { DuckDBConnection } from '@duckdb/node-api';
import { queryBatches, queryRows, sqlFileList, sqlIdent } from '../store/duck.js';
import { md5Hex } from '../util/hash.js';
import { TrainStream, windowSql, type StreamCursor, type StreamPlan } from './stream.js';
import { decodeImage } from '../util/image.js';
import { tokenize } from '../model/tokenizer.js';
import { Rng, deriveSeed, mulberry32 } from '../util/random.js';
import { MiroError } from '../errors.js';
import { decodeFloat16 } from '../util/float16.js';
import { normalizeLatent } from '../frozen/vae.js';
import type { LatentNormalization } from '../frozen/config.js';

export interface TrainBatch {
  ids: string[];
  /** [B, S, S, C] pixels scaled to [-1, 1], or normalised latents drawn from their distribution. */
  x: Float32Array;
  captions: string[];
  /** [B, T] token ids (learned text), or zeros. */
  tokens: Int32Array;
  /** [B, T, E] frozen-encoder states (precomputed text), else empty. */
  textStates: Float32Array;
  textMask: Float32Array;
  /** [B, R] targets; 0 where missing (and mask 0). */
  targets: Float32Array;
  targetMask: Float32Array;
}

/** Training on VAE latents with precomputed text: what the latents and text_embed nodes recorded. */
export interface LatentInputs {
  /** [C, h, w] of each stored latent. */
  shape: [number, number, number];
  normalization: LatentNormalization;
  embedDim: number;
}

export interface LoaderOptions {
  /** Which rows, columns and shards; see stream.ts. */
  plan: StreamPlan;
  rewards: string[];
  batchSize: number;
  imageSize: number;
  vocab: string[];
  maxTokens: number;
  latents?: LatentInputs;
}

/** SQL predicate: whether a row is held out from training (a hash of id and seed below `fraction`). */
export function heldOutSql(seed: number, fraction: number): string {
  return `((('0x' || md5(id || ':holdout:' || ${seed})[1:8])::BIGINT / 4294967296.0) < ${fraction})`;
}

export class ShardLoader {
  private readonly stream: TrainStream;

  constructor(
    private readonly conn: DuckDBConnection,
    private readonly opts: LoaderOptions,
  ) {
    this.stream = new TrainStream(opts.plan, 0, 1, (units, epoch) => this.readWindow(units, epoch));
  }

  get cursor(): StreamCursor {
    return this.stream.cursor;
  }

  set cursor(c: StreamCursor) {
    this.stream.cursor = { ...c };
  }

  /** Row counts from the driving node's ids alone (no image or latent bytes are read). */
  async open(): Promise<{ trainRows: number; heldOut: number }> {
    const { plan } = this.opts;
    const d = plan.columns[plan.driver]!;
    const files = [...new Set(plan.units.flatMap((u) => u[d.node] ?? []))];
    const ok = d.status ? "status = 'ok'" : `${sqlIdent(d.column)} IS NOT NULL`;
    const split = heldOutSql(plan.seed, plan.holdout);
    const [row] = await queryRows(
      this.conn,
      `SELECT count(*) FILTER (WHERE NOT ${split}) AS train, count(*) FILTER (WHERE ${split}) AS held FROM read_parquet(${sqlFileList(files)}) WHERE ${ok}`,
    );
    const trainRows = Number(row!.train);
    if (trainRows < this.opts.batchSize)
      throw new MiroError(
        `training needs at least batch_size=${this.opts.batchSize} rows with ${this.opts.latents ? 'latents' : 'images'}, found ${trainRows}`,
      );
    return { trainRows, heldOut: Number(row!.held) };
  }

  /** The next batch of the stream. */
  async next(): Promise<TrainBatch> {
    const { rows, epoch } = await this.stream.next(this.opts.batchSize);
    return this.assemble(rows, epoch);
  }

  /** Rows held out from training, in a fixed order (for evaluation during training). */
  async heldOut(limit: number): Promise<Record<string, unknown>[]> {
    const { plan } = this.opts;
    const captions = ['caption_real', 'caption_synthetic'];
    const sql = windowSql(plan, plan.units.keys(), captions);
    // A caption column the node does not read is NULL here (both are optional).
    const cols = captions.map((c) => (plan.columns[c] ? c : `NULL::VARCHAR AS ${c}`)).join(', ');
    return queryRows(
      this.conn,
      `SELECT id, ${cols} FROM (${sql}) WHERE ${heldOutSql(plan.seed, plan.holdout)} ORDER BY md5(id || ':eval'), id LIMIT ${limit}`,
    );
  }

  /** One window's training rows, in the stream's order for that epoch. */
  private async readWindow(units: number[], epoch: number): Promise<Record<string, unknown>[]> {
    const { plan } = this.opts;
    // Streamed chunk by chunk and ordered here, by the same md5 as DuckDB's and Python's: DuckDB
    // sorting the rows would hold their bytes a second time (in its sort buffers) at the peak.
    const rows: Record<string, unknown>[] = [];
    const sql = `SELECT * FROM (${windowSql(plan, units)}) WHERE ${sqlIdent(plan.driver)} IS NOT NULL AND NOT ${heldOutSql(plan.seed, plan.holdout)}`;
    for await (const b of queryBatches(this.conn, sql)) {
      const names = Object.keys(b.columns);
      for (let i = 0; i < b.rows; i++) rows.push(Object.fromEntries(names.map((n) => [n, b.columns[n]![i]])));
    }
    const suffix = `:${plan.seed}:${epoch}`;
    const key = new Map(rows.map((r) => [r, md5Hex(String(r.id) + suffix)]));
    const id = (r: Record<string, unknown>) => String(r.id);
    return rows.sort((a, b) =>
      key.get(a)! < key.get(b)! ? -1 : key.get(a)! > key.get(b)! ? 1 : id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0,
    );
  }

  private async assemble(rows: Record<string, unknown>[], epoch: number): Promise<TrainBatch> {
    const { rewards, maxTokens: T } = this.opts;
    const B = rows.length;
    const x = this.opts.latents ? this.latentBatch(rows, epoch) : await this.pixelBatch(rows);
    const { plan } = this.opts;
    // Real or synthetic caption: a coin per (seed, epoch, id), independent of batch order.
    const choice = rows.map((r): 'real' | 'synthetic' | 'dropped' => {
      const coin = mulberry32(deriveSeed(plan.seed, `${r.id}:${epoch}:caption`))();
      const dropped = plan.caption_dropout > 0 && mulberry32(deriveSeed(plan.seed, `${r.id}:${epoch}:drop`))() < plan.caption_dropout;
      return dropped ? 'dropped' : coin < plan.real_caption_ratio ? 'real' : 'synthetic';
    });
    const pick = <V>(real: V | null, synthetic: V | null, c: 'real' | 'synthetic' | 'dropped'): V | null =>
      c === 'dropped' ? null : c === 'real' ? (real ?? synthetic) : (synthetic ?? real);
    const captions = rows.map((r, i) => pick(r.caption_real as string | null, r.caption_synthetic as string | null, choice[i]!) ?? '');
    const tokens = new Int32Array(B * T);
    const textMask = new Float32Array(B * T);
    let textStates = new Float32Array(0);
    if (this.opts.latents) {
      // Frozen-encoder states of the chosen caption; a dropped caption is no tokens at all.
      const E = this.opts.latents.embedDim;
      textStates = new Float32Array(B * T * E);
      rows.forEach((r, i) => {
        const blob = pick(r.text_real as Uint8Array | null, r.text_synthetic as Uint8Array | null, choice[i]!);
        if (!blob) return;
        if (blob.length % (2 * E))
          throw new MiroError(`row ${r.id}: text embedding of ${blob.length} bytes is not a whole number of ${E}-wide float16 tokens`);
        const n = Math.min(T, blob.length / (2 * E));
        decodeFloat16(blob.subarray(0, n * E * 2), textStates, i * T * E);
        textMask.fill(1, i * T, i * T + n);
      });
    } else
      captions.forEach((c, i) => {
        const ids = tokenize(c, this.opts.vocab, T);
        tokens.set(ids, i * T);
        for (let k = 0; k < T; k++) textMask[i * T + k] = ids[k] !== 0 || k === 0 ? 1 : 0;
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
    return { ids: rows.map((r) => String(r.id)), x, captions, tokens, textStates, textMask, targets, targetMask };
  }

  /** Decoded images as [B, S, S, 3] in [-1, 1]. */
  private async pixelBatch(rows: Record<string, unknown>[]): Promise<Float32Array> {
    const S = this.opts.imageSize;
    const x = new Float32Array(rows.length * S * S * 3);
    const images = await Promise.all(rows.map((r) => decodeImage(r.image as Uint8Array)));
    images.forEach((img, i) => {
      if (img.width !== S || img.height !== S)
        throw new MiroError(`row ${rows[i]!.id}: image is ${img.width}x${img.height}, the model expects ${S}x${S}`);
      for (let k = 0; k < img.data.length; k++) x[i * S * S * 3 + k] = img.data[k]! / 127.5 - 1;
    });
    return x;
  }

  /**
   * A draw z = mean + std * eps from each row's latent distribution (eps from seed, id and epoch,
   * so a resumed run draws the same), normalised per channel, as [B, h, w, C] (channels last).
   */
  private latentBatch(rows: Record<string, unknown>[], epoch: number): Float32Array {
    const { shape, normalization } = this.opts.latents!;
    const [C, h, w] = shape;
    const per = C * h * w;
    const x = new Float32Array(rows.length * per);
    const z = new Float32Array(per);
    const std = new Float32Array(per);
    rows.forEach((r, i) => {
      const mean = r.latent_mean as Uint8Array;
      if (mean.length !== per * 2) throw new MiroError(`row ${r.id}: latent_mean has ${mean.length / 2} values, expected ${C}x${h}x${w}`);
      decodeFloat16(mean, z);
      const s = r.latent_std as Uint8Array | null;
      if (s) {
        if (s.length !== per * 2) throw new MiroError(`row ${r.id}: latent_std has ${s.length / 2} values, expected ${C}x${h}x${w}`);
        decodeFloat16(s, std);
        const eps = new Rng(deriveSeed(this.opts.plan.seed, `${r.id}:${epoch}:latent`)).normals(per);
        for (let k = 0; k < per; k++) z[k] = z[k]! + std[k]! * eps[k]!;
      }
      const zn = normalizeLatent(z, normalization);
      for (let c = 0; c < C; c++) for (let p = 0; p < h * w; p++) x[i * per + p * C + c] = zn[c * h * w + p]!;
    });
    return x;
  }
}
