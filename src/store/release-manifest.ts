// `release.json`: what a release holds (every file's hash, bytes, rows and schema), how it was
// made (the pipeline as it ran, filters, counts) and the bin edges. Read by training and verify.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BinState } from './markers.js';
import { MiroError } from '../errors.js';

/** With `--images path`: the index of the image files (path, sha256, bytes), itself a listed file. */
export const IMAGE_INDEX = 'images.parquet';

export interface FileRecord {
  path: string;
  sha256: string;
  bytes: number;
  rows: number;
  schema: { name: string; type: string }[];
}

export interface ReleaseManifest {
  /**
   * 1: the image column is bytes (or, with --images path, a path); 2 (Parquet with embedded images):
   * it is the struct {bytes, path} that Hugging Face `datasets` reads as an Image.
   */
  format: 'miro-release/1' | 'miro-release/2';
  name: string;
  tool: { name: string; version: string; node: string; duckdb: string; git_commit: string | null };
  pipeline: {
    file: string;
    name: string;
    seed: number;
    yaml: string;
    nodes: Record<string, { kind: string; fingerprint: string; params: unknown; identity: unknown }>;
  };
  rewards: string[];
  images: 'embed' | 'path';
  /** How the rows are stored: Parquet parts, or webdataset tar shards (absent in releases before it existed: parquet). */
  layout?: 'parquet' | 'webdataset';
  /** The license the releaser gave (an SPDX id such as cc-by-4.0, or other:<name>), or null when left unset on purpose. */
  license: string | null;
  filter: { where: string | null; include_failed: boolean };
  counts: { rows: number; excluded_failed: number; excluded_by_where: number };
  bin_edges: BinState;
  files: FileRecord[];
}

/** Reads `<dir>/release.json`; an unreadable or invalid file is a MiroError naming it. */
export function readReleaseManifest(dir: string): ReleaseManifest {
  const file = path.join(dir, 'release.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ReleaseManifest;
  } catch (err) {
    throw new MiroError(`cannot read ${file} (${(err as Error).message})`);
  }
}
