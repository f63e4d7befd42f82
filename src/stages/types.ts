// The contract between the runner and a stage kind. A stage kind is one file that exports a
// StageKind: its parameter schema, its output columns, and a function from one shard of input
// to batches of rows. Stages never import the runner.

import type { DuckDBConnection } from '@duckdb/node-api';
import type { ColumnRef, ParamsOf, Shape } from './params.js';
export type { ColumnRef } from './params.js';
import type { Stats } from '../util/stats.js';
import type { ProgressDetail } from '../util/progress.js';

export type { Batch, Column, ColumnType, ColumnValues, Value } from '../store/batch.js';
import type { Batch, Column, Value } from '../store/batch.js';
import type { NodeLayout } from '../store/layout.js';

/** Pipeline-wide settings a stage may read. */
export interface PipelineSettings {
  name: string;
  file: string;
  seed: number;
  shards: number;
  /** With it, a source that knows its row count (synth, rows) cuts ceil(count / rows_per_shard) shards. */
  rowsPerShard: number | null;
  dataRoot: string;
  /** Folder for human-facing reports of this pipeline. */
  reportDir: string;
}

/** A source's shard count: its own `shards`, else one shard per `rows_per_shard` rows, else the pipeline's. */
export function sourceShardCount(own: number, count: number, settings: PipelineSettings): number {
  if (own) return own;
  return settings.rowsPerShard ? Math.max(1, Math.ceil(count / settings.rowsPerShard)) : settings.shards;
}

export interface SelectOptions {
  /** Columns to read, by the name the stage wants to see them under. */
  columns: Record<string, ColumnRef>;
  batchRows?: number;
  /** Restrict to these rows (used by --retry-failed). Defaults to the context's retry filter. */
  ids?: readonly string[];
}

/** Rows read from upstream shards: `id`, the selected columns, and `upstream_error`. */
export interface InputReader {
  select(opts: SelectOptions): AsyncIterable<Batch>;
  /** Paths of committed Parquet files of an upstream node: this shard's for map stages, all for global ones. */
  files(node: string): string[];
  /** Output columns of an upstream node. */
  columns(node: string): string[];
  /** An upstream node's files that are not rows (its trained model, its contact sheets). */
  layout(node: string): NodeLayout;
  /** What an upstream node's prepare() recorded in its manifest (e.g. the bins node's edges), or undefined. */
  manifestState(node: string): Promise<unknown>;
  /**
   * SQL for the needs' columns joined by id, one row per row of the first node named: `id` and each
   * column under its key; a value from a row that failed upstream (or has no row there) is NULL.
   */
  joinSql(columns: Record<string, ColumnRef>): string;
}

export interface NodeContext<P> {
  node: string;
  params: P;
  pipeline: PipelineSettings;
  /** The node's own folder: `data/<pipeline>/<node>/`, for files that are not rows (checkpoints, charts). */
  dir: string;
  /** The same folder's named places (model/, contact/, _cache/). */
  layout: NodeLayout;
  duck: DuckDBConnection;
  inputs: InputReader;
  needs: readonly string[];
  log(message: string): void;
  /** A fresh connection with every node of the pipeline as a view (as `miro sql` sees them). */
  openViews(): Promise<{ conn: DuckDBConnection; views: Set<string> }>;
  /** SQL relation over one of this node's own committed tables (written by writeTable in prepare). */
  readTable(name: string): string;
  /** Writes a node-level table (e.g. bin_edges), committed with the node manifest. */
  writeTable(name: string, columns: Column[], batches: Iterable<Batch> | AsyncIterable<Batch>): Promise<void>;
}

export interface ShardContext<P> extends NodeContext<P> {
  shard: number;
  shards: number;
  /** What prepare() returned, as recorded in the node manifest. */
  state: unknown;
  /** Set when re-running only the failed rows of a committed shard. */
  retry: { rows: Record<string, Value>[] } | null;
  stats: Stats;
  /** Report rows (or steps) done so far in this shard, and the total when known (for progress). */
  progress(rowsDone: number, rowsTotal?: number, detail?: ProgressDetail): void;
}

export type Mode =
  /** Makes the dataset's shards from outside data; runs prepare() once, then each shard. */
  | 'source'
  /** Output shard i is computed from input shard i of each need, row for row (1:1 by id). */
  | 'map'
  /** Reads every committed shard of its needs and writes a single shard. */
  | 'global';

export interface StageKind<S extends Shape = Shape> {
  kind: string;
  /** Bump when the stage's output for the same input and parameters changes. */
  version: number;
  doc: string;
  mode: Mode;
  params: S;
  needs: { min: number; max?: number };
  /**
   * CPU-bound work on the JavaScript thread (training, sampling): the runner runs such a node in
   * a child process when other nodes may run beside it, so two of them use two cores.
   */
  ownProcess?: boolean;
  /**
   * Folders in the node's own folder that the stage writes besides shards and tables (a trained
   * model, contact sheets). Re-running the node deletes these and nothing it did not write.
   */
  outputs?: string[];
  /** Whether rows carry `status` and `error` (the runner adds both columns). */
  rowsCanFail: boolean;
  /** Output columns after `id` (and before `status`, `error`). */
  columns(params: ParamsOf<S>): Column[];
  /** Checks across parameters and needs, at load time; a returned message becomes a ConfigError on `with`. */
  validate?(params: ParamsOf<S>, needs: readonly string[]): string | null;
  /** Upstream columns this node reads; checked against the upstream schema when the pipeline loads. */
  reads?(params: ParamsOf<S>): ColumnRef[];
  /** Identity of external things the output depends on (model ids, weight hashes, prompt hashes): part of the fingerprint. */
  identity?(params: ParamsOf<S>, pipelineDir: string): Promise<unknown> | unknown;
  /** Node-level work done once before shards (listing sources, bin edges). Returns JSON state. */
  prepare?(ctx: NodeContext<ParamsOf<S>>): Promise<unknown>;
  /** For source stages: the number of shards, known from parameters and settings. */
  sourceShards?(params: ParamsOf<S>, settings: PipelineSettings): number;
  /** Produces a shard's rows as batches. */
  run?(ctx: ShardContext<ParamsOf<S>>): AsyncIterable<Batch>;
  /**
   * Or, for stages that are pure SQL: a query over the input files that yields the shard's
   * rows. The store writes it with COPY, so rows never pass through JavaScript.
   */
  query?(ctx: ShardContext<ParamsOf<S>>): Promise<string | ShardQuery> | string | ShardQuery;
  /**
   * Shards whose queries run mostly on one DuckDB thread (a positional join): the runner runs
   * as many such shards at once as DuckDB has threads.
   */
  concurrentShards?: boolean;
}

/** A shard's query, with what the store may rely on. */
export interface ShardQuery {
  sql: string;
  /** Rows already come out in id order, so the store need not sort them. */
  orderedById?: boolean;
  /** Run instead when `sql` fails with an error containing FALLBACK_SIGNAL (raised by SQL `error()`). */
  fallback?: ShardQuery;
}

/** A query raises `error('<FALLBACK_SIGNAL>: why')` to ask for its fallback query. */
export const FALLBACK_SIGNAL = 'miro:use-fallback-query';

export function defineStage<S extends Shape>(stage: StageKind<S>): StageKind<S> {
  return stage;
}
