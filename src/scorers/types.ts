// What a reward scorer is: a batch of images (and captions) in, one score (or a row error) per image out.

import type { RGBImage } from '../util/image.js';
import type { RowError } from '../errors.js';

export interface ScoreInput {
  /** The row's id, where there is one: server-backed scorers key their request cache by it. */
  id?: string;
  image: RGBImage;
  caption: string | null;
  /** The encoded image, when there is one: model scorers resize from it in one libvips pass. */
  bytes?: Uint8Array;
}

/** A score, null for a missing reward, or the row's error (a model server that gave up). */
export type ScoreResult = number | null | RowError;

/** Built-in and ONNX scorers give numbers or null; a server-backed one may also give row errors. */
export interface Scorer<R extends ScoreResult = number | null> {
  name: string;
  needsCaption: boolean;
  /** What a score depends on besides the code version: formula, model files and their hashes. */
  identity: unknown;
  doc: string;
  score(batch: ScoreInput[]): Promise<R[]>;
  /**
   * For scorers that ask a server: the same scorer with finished requests kept in `cacheFile`,
   * so a shard that crashed does not ask again. Close it when the shard ends.
   */
  withCache?(cacheFile: string, opts?: { retryFailures?: boolean }): Promise<Scorer<R> & { close(): Promise<void> }>;
}
