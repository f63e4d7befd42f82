// Where a node's files live: data/<pipeline>/<node>/part-<shard>.parquet, committed by _done/<shard>.json;
// the node's tables, manifest, locks and failures in `_`-prefixed names beside them.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { sqlFileList } from './sql-text.js';

export const shardName = (shard: number): string => String(shard).padStart(5, '0');

export class NodeLayout {
  constructor(readonly dir: string) {}

  static of(dataRoot: string, pipeline: string, node: string): NodeLayout {
    return new NodeLayout(path.join(dataRoot, pipeline, node));
  }

  shardFile(shard: number): string {
    return path.join(this.dir, `part-${shardName(shard)}.parquet`);
  }
  /** Every shard file of a node with `shards` shards, committed or not. */
  shardFiles(shards: number): string[] {
    return Array.from({ length: shards }, (_, i) => this.shardFile(i));
  }
  markerDir(): string {
    return path.join(this.dir, '_done');
  }
  markerFile(shard: number): string {
    return path.join(this.dir, '_done', `${shardName(shard)}.json`);
  }
  manifestFile(): string {
    return path.join(this.dir, '_manifest.json');
  }
  /**
   * A node-level table (bin_edges, ingest's source list) under `_tables/`, apart from the shards, so
   * `<node>/*.parquet` and pyarrow.dataset(<node>) (which skips `_` folders) read only the rows.
   */
  tableFile(table: string): string {
    return path.join(this.dir, '_tables', table, 'part-00000.parquet');
  }
  /** `_failed/rank-R-of-W.json`: the last failure of a rank's run, removed when it succeeds. */
  failureDir(): string {
    return path.join(this.dir, '_failed');
  }
  failureFile(rank: number, world: number): string {
    return path.join(this.dir, '_failed', `rank-${rank}-of-${world}.json`);
  }
  lockDir(): string {
    return path.join(this.dir, '_lock');
  }
  /** `_cache/`: what an interrupted shard or setting keeps so that a resumed run repeats no work. */
  cacheDir(): string {
    return path.join(this.dir, '_cache');
  }
  // Files that are not rows live in `_`-prefixed folders, which pyarrow.dataset, pandas and Spark
  // skip, so the node's folder reads as its rows alone. Folders an older version wrote without the
  // `_` (model/, checkpoints/, contact/) are still read where the new one is absent.

  /** A train node's trained model (`config.json`, `ema.safetensors`): what sample, `miro sample` and the Dials load. */
  modelDir(): string {
    return this.ownFolder('_model', 'model');
  }
  /** A train node's checkpoints, one `step-<n>/` each. */
  checkpointsDir(): string {
    return this.ownFolder('_checkpoints', 'checkpoints');
  }
  /** A sample node's contact sheets, one `<setting>.png` each. */
  contactDir(): string {
    return this.ownFolder('_contact', 'contact');
  }
  private ownFolder(name: string, legacy: string): string {
    const now = path.join(this.dir, name);
    const old = path.join(this.dir, legacy);
    return !existsSync(now) && existsSync(old) ? old : now;
  }
}

/**
 * Every shard file of a node as a SQL list for read_parquet(): what a release, the webdataset
 * writer and the explorer read once the node is complete.
 */
export function nodeFilesSql(
  pipeline: { settings: { dataRoot: string; name: string }; nodes: ReadonlyMap<string, { shards: number }> },
  node: string,
): string {
  return sqlFileList(layoutOf(pipeline, node).shardFiles(pipeline.nodes.get(node)!.shards));
}

/** A node's layout under a pipeline's data root (any object with the pipeline's settings). */
export function layoutOf(pipeline: { settings: { dataRoot: string; name: string } }, node: string): NodeLayout {
  return NodeLayout.of(pipeline.settings.dataRoot, pipeline.settings.name, node);
}
