// A shard's marker is its commit: written last, after the Parquet file is renamed into place.
// A node's manifest records its fingerprint, shard count, prepared state and side tables.

import { promises as fs } from 'node:fs';
import type { NodeLayout } from './layout.js';
import { readJsonIfExists, writeFileAtomic } from './atomic.js';
import { sha256 } from '../util/hash.js';

export interface ShardMarker {
  shard: number;
  rows: number;
  bytes: number;
  sha256: string;
  fingerprint: string;
  /** Hash of the markers of the input shards this shard was computed from. */
  inputs: string;
  stats: Record<string, number>;
  /** Which rank of how many wrote it (--rank/--world). */
  rank: number;
  world: number;
  started: string;
  finished: string;
}

export interface TableRecord {
  file: string;
  rows: number;
  bytes: number;
  sha256: string;
}

export interface NodeManifest {
  node: string;
  kind: string;
  fingerprint: string;
  /** What the fingerprint hashes, so a stale node can say what changed. */
  parts: unknown;
  shards: number;
  state: unknown;
  tables: Record<string, TableRecord>;
  written: string;
}

const saidUnreadable = new Set<string>();

/**
 * A shard's marker, or undefined when it has none. A marker is renamed into place whole, so an
 * unreadable one means outside damage: the shard counts as not committed (it is made again, and its
 * new marker replaces the damaged one), and the file is named once on stderr.
 */
export async function readMarker(layout: NodeLayout, shard: number): Promise<ShardMarker | undefined> {
  const file = layout.markerFile(shard);
  try {
    const m = await readJsonIfExists<ShardMarker>(file);
    if (m === undefined || (typeof m.sha256 === 'string' && typeof m.fingerprint === 'string' && m.shard === shard)) return m;
    throw new Error('not a marker of this shard');
  } catch (err) {
    if (!saidUnreadable.has(file))
      process.stderr.write(`warning: unreadable marker ${file} (${(err as Error).message}): shard ${shard} counts as not committed\n`);
    saidUnreadable.add(file);
    return undefined;
  }
}

interface MarkerIndex {
  dirMtimeNs: string;
  builtMs: number;
  count: number;
  markers: ShardMarker[];
  /** Per shard, its marker file's mtime (ns) and size when indexed: an edit in place shows. */
  files?: Record<number, string>;
  /** sha256 of the markers and files above: damage to the index itself shows. */
  sha256?: string;
}

const indexHash = (i: Pick<MarkerIndex, 'markers' | 'files'>) => sha256(JSON.stringify([i.markers, i.files]));

/** A marker file's identity for the index: mtime in ns and size (one stat, no read). */
async function fileStamp(file: string): Promise<string | null> {
  const st = await fs.stat(file, { bigint: true }).catch(() => null);
  return st ? `${st.mtimeNs}:${st.size}` : null;
}

/**
 * All markers of a node, by shard. Reads only the small JSON files, never Parquet. A node with
 * many shards keeps `_markers.json`, a cache of all its markers keyed by the `_done` folder's
 * mtime: every commit renames a file into `_done`, which changes that mtime. The cache is
 * trusted only when built over a second after the folder's last change, so changes within one
 * timestamp tick cannot hide, or when built by the only writer as it finishes the node.
 */
export async function readMarkers(layout: NodeLayout, opts: { indexNow?: boolean } = {}): Promise<Map<number, ShardMarker>> {
  let names: string[];
  let mtimeNs: bigint;
  try {
    [names, mtimeNs] = await Promise.all([
      fs.readdir(layout.markerDir()),
      fs.stat(layout.markerDir(), { bigint: true }).then((s) => s.mtimeNs),
    ]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const shards = names.filter((n) => /^\d+\.json$/.test(n)).map((n) => Number(n.slice(0, -5)));
  const indexFile = `${layout.dir}/_markers.json`;
  const index = await readJsonIfExists<MarkerIndex>(indexFile).catch(() => undefined);
  // The index is checked against _done/, never trusted alone: every marker file must still have the
  // mtime and size it had when indexed (a stat each, far cheaper than reading and parsing each).
  if (index?.files && index.dirMtimeNs === String(mtimeNs) && index.count === shards.length && index.sha256 === indexHash(index)) {
    const stamps = await Promise.all(shards.map((s) => fileStamp(layout.markerFile(s))));
    if (shards.every((s, i) => index.files![s] === stamps[i])) return new Map(index.markers.map((m) => [m.shard, m]));
  }

  const markers = await Promise.all(shards.map((s) => readMarker(layout, s)));
  const out = new Map<number, ShardMarker>();
  markers.forEach((m, i) => m && out.set(shards[i]!, m));
  const now = Date.now();
  // `indexNow`: the caller holds the only writer's lock (a single rank), so no rename can race.
  if (shards.length >= 64 && (opts.indexNow || now - Number(mtimeNs / 1_000_000n) > 1000)) {
    const stamps = await Promise.all(shards.map((s) => fileStamp(layout.markerFile(s))));
    const files = Object.fromEntries(shards.map((s, i) => [s, stamps[i]!]));
    const markers = [...out.values()];
    const fresh: MarkerIndex = {
      dirMtimeNs: String(mtimeNs),
      builtMs: now,
      count: shards.length,
      markers,
      files,
      sha256: indexHash({ markers, files }),
    };
    await writeFileAtomic(indexFile, JSON.stringify(fresh)).catch(() => undefined);
  }
  return out;
}

export async function writeMarker(layout: NodeLayout, marker: ShardMarker): Promise<void> {
  await writeFileAtomic(layout.markerFile(marker.shard), JSON.stringify(marker, null, 1));
}

export async function removeShard(layout: NodeLayout, shard: number): Promise<void> {
  // Marker first: without it the shard no longer counts as committed.
  await fs.rm(layout.markerFile(shard), { force: true });
  await fs.rm(layout.shardFile(shard), { force: true });
}

export async function readManifest(layout: NodeLayout): Promise<NodeManifest | undefined> {
  return readJsonIfExists<NodeManifest>(layout.manifestFile());
}

export async function writeManifest(layout: NodeLayout, manifest: NodeManifest): Promise<void> {
  await writeFileAtomic(layout.manifestFile(), JSON.stringify(manifest, null, 1));
}

/** Why a node's last run on some rank failed, kept until that rank runs the node through. */
export interface NodeFailure {
  node: string;
  fingerprint: string;
  rank: number;
  world: number;
  error: string;
  at: string;
}

export async function writeFailure(layout: NodeLayout, failure: NodeFailure): Promise<void> {
  await writeFileAtomic(layout.failureFile(failure.rank, failure.world), JSON.stringify(failure, null, 1));
}

export async function clearFailure(layout: NodeLayout, rank: number, world: number): Promise<void> {
  await fs.rm(layout.failureFile(rank, world), { force: true });
}

export async function readFailures(layout: NodeLayout): Promise<NodeFailure[]> {
  const files = await fs.readdir(layout.failureDir()).catch(() => [] as string[]);
  const out = await Promise.all(
    files.filter((f) => f.endsWith('.json')).map((f) => readJsonIfExists<NodeFailure>(`${layout.failureDir()}/${f}`)),
  );
  return out.filter((f): f is NodeFailure => f !== undefined);
}

/** The bins node's manifest state: per reward, the edges that make its bins (also stored in releases). */
export interface BinState {
  num_bins: number;
  calibration: { rows: number; seed: number };
  /** Per reward: B+1 ascending edges, and how they were made. */
  edges: Record<string, { edges: number[]; method: 'quantiles' | 'uniform' | 'empty'; distinct_values: number }>;
}
