// The training stream, written down once for both engines (python/miro_torch/stream.py follows
// the same rules): which rows each rank reads, in which order, with what memory.
//
// - A unit is one input shard: part-K of the driving node (the images, or the latents) with the
//   part-K files of every other node whose shards line up, or all of that node's files where they
//   do not. The plan lists each unit's files per node, so the trainer needs no pipeline to read it.
// - Epoch e orders the units by md5("<seed>:<e>:unit:<k>"); rank r of W takes positions r, r+W, ...
// - A rank reads its units in windows of `buffer_units`; within a window, training rows (driving
//   column present, not held out) are ordered by md5("<id>:<seed>:<e>"), then id.
// - Batches are consecutive rows of a window; a window's last partial batch is dropped, and the
//   stream runs on into the next window and epoch for as long as training asks.
// - The cursor (epoch, window, offset) resumes the same stream after a kill.

import { joinById, joinedColumn } from '../store/join.js';
import { md5Hex } from '../util/hash.js';
import { MiroError } from '../errors.js';
import type { LatentNormalization } from '../frozen/config.js';

export interface StreamColumn {
  node: string;
  column: string;
  /** The node has a status column: the value counts only where status = 'ok'. */
  status: boolean;
  /** The value is this field of a struct column (a release's image: {bytes, path}). */
  field?: string;
}

export interface StreamPlan {
  seed: number;
  holdout: number;
  buffer_units: number;
  /** The column that decides which rows train: `image`, or `latent_mean` for latent presets. */
  driver: string;
  /** Output name (image, caption_real, ..., target_<reward>) -> where it is read from. */
  columns: Record<string, StreamColumn>;
  /** Per unit: node -> its Parquet files for that unit. */
  units: Record<string, string[]>[];
  real_caption_ratio: number;
  caption_dropout: number;
  /** Latent presets: [C, h, w] and the per-channel normalisation (the Python engine reads them here). */
  latent_shape?: [number, number, number];
  normalization?: LatentNormalization;
}

export interface StreamCursor {
  epoch: number;
  window: number;
  offset: number;
}

/** Units of one node list: part-K with part-K where the shards line up, else every file of the node. */
export function unitsOf(driverFiles: string[], filesOf: Record<string, string[]>): Record<string, string[]>[] {
  const shardOf = (f: string) => /part-(\d+)\.parquet$/.exec(f)?.[1];
  return driverFiles.map((df) => {
    const k = shardOf(df);
    return Object.fromEntries(
      Object.entries(filesOf).map(([node, files]) => {
        if (files === driverFiles) return [node, [df]];
        const aligned =
          files.length === driverFiles.length && k !== undefined && files.every((f, i) => shardOf(f) === shardOf(driverFiles[i]!));
        return [node, aligned ? files.filter((f) => shardOf(f) === k) : files];
      }),
    );
  });
}

export function unitOrder(units: number, seed: number, epoch: number): number[] {
  const key = (k: number) => md5Hex(`${seed}:${epoch}:unit:${k}`);
  return Array.from({ length: units }, (_, k) => k).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a - b));
}

/** The windows (lists of unit indices) that rank `rank` of `world` reads in `epoch`. */
export function rankWindows(plan: StreamPlan, rank: number, world: number, epoch: number): number[][] {
  const mine = unitOrder(plan.units.length, plan.seed, epoch).filter((_, i) => i % world === rank);
  const out: number[][] = [];
  for (let i = 0; i < mine.length; i += plan.buffer_units) out.push(mine.slice(i, i + plan.buffer_units));
  return out;
}

/**
 * SELECT id, <every plan column> for the given units: the driving node's rows, the other nodes
 * LEFT JOINed by id; a value from a node with a status column counts only where status = 'ok'.
 */
export function windowSql(plan: StreamPlan, units: Iterable<number>, only?: string[]): string {
  const cols = Object.entries(plan.columns).filter(([as]) => !only || only.includes(as) || as === plan.driver);
  const driverNode = plan.columns[plan.driver]!.node;
  const nodes = [driverNode, ...new Set(cols.map(([, c]) => c.node).filter((n) => n !== driverNode))];
  const picked = [...units];
  const join = joinById(nodes, (node) => [...new Set(picked.flatMap((u) => plan.units[u]![node] ?? []))]);
  const values = cols.map(([as, c]) => joinedColumn(join, c.node, c.column, as, c.status, c.field));
  return `SELECT t0.id AS id${values.map((v) => `, ${v}`).join('')} FROM ${join.from}`;
}

/** One rank's stream over a plan; `read` gives a window's training rows in the epoch's order. */
export class TrainStream {
  cursor: StreamCursor = { epoch: 0, window: 0, offset: 0 };
  private loaded: { key: string; rows: Record<string, unknown>[] } | null = null;

  constructor(
    private readonly plan: StreamPlan,
    private readonly rank: number,
    private readonly world: number,
    private readonly read: (units: number[], epoch: number) => Promise<Record<string, unknown>[]>,
  ) {
    if (world > plan.units.length)
      throw new MiroError(`${world} ranks but only ${plan.units.length} input shards: use fewer ranks or more shards (settings.shards)`);
  }

  /** The next `batch` rows and the epoch they belong to. */
  async next(batch: number): Promise<{ rows: Record<string, unknown>[]; epoch: number }> {
    let passed = 0; // windows passed over without a batch
    for (;;) {
      const c = this.cursor;
      const windows = rankWindows(this.plan, this.rank, this.world, c.epoch);
      if (c.window >= windows.length) {
        this.cursor = { epoch: c.epoch + 1, window: 0, offset: 0 };
        continue;
      }
      const rows = await this.windowRows(c.epoch, c.window, windows[c.window]!);
      if (c.offset + batch <= rows.length) {
        this.cursor = { ...c, offset: c.offset + batch };
        return { rows: rows.slice(c.offset, c.offset + batch), epoch: c.epoch };
      }
      if (++passed > 2 * windows.length)
        throw new MiroError(
          `no window of ${this.plan.buffer_units} input shard(s) holds batch_size=${batch} training rows; lower batch_size or raise buffer_units`,
        );
      this.cursor = { epoch: c.epoch, window: c.window + 1, offset: 0 };
    }
  }

  private async windowRows(epoch: number, window: number, units: number[]): Promise<Record<string, unknown>[]> {
    const key = `${epoch}:${window}`;
    if (this.loaded?.key !== key) this.loaded = { key, rows: await this.read(units, epoch) };
    return this.loaded.rows;
  }
}
