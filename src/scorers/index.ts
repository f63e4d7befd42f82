// The reward scorers by name. The seven built-in ones need no weights; `onnx:<config>` scorers
// (the paper's reward models) load their model files on first use; `vlm:<config>` asks a server.

import type { RGBImage } from '../synth/image.js';
import { colourfulness, sharpness, contrast, cleanliness } from './metrics.js';
import { objectF1, countingAgreement, spatialAgreement } from './agreement.js';
import { detect } from '../synth/detector.js';
import { MiroError } from '../errors.js';
import type { RowError } from '../stages/base.js';

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
  withCache?(cacheFile: string): Promise<Scorer<R> & { close(): Promise<void> }>;
}

function imageScorer(name: string, doc: string, fn: (img: RGBImage) => number): Scorer {
  return { name, needsCaption: false, identity: { builtin: name, version: 1 }, doc, score: async (batch) => batch.map((b) => fn(b.image)) };
}

function captionScorer(name: string, doc: string, fn: (caption: string, img: RGBImage) => number | null): Scorer {
  return { name, needsCaption: true, identity: { builtin: name, version: 1 }, doc, score: async (batch) => batch.map((b) => fn(b.caption ?? '', b.image)) };
}

export const BUILTIN_SCORERS: Record<string, Scorer> = {
  colourfulness: imageScorer('colourfulness', 'Hasler and Suesstrunk (2003) colourfulness M', colourfulness),
  sharpness: imageScorer('sharpness', 'variance of the Laplacian', sharpness),
  contrast: imageScorer('contrast', 'RMS contrast of grey levels in [0, 1]', contrast),
  cleanliness: imageScorer('cleanliness', "negative of Immerkaer's noise sigma", cleanliness),
  objects: captionScorer('objects', 'F1 of detected objects against objects named in the caption', (c, img) => objectF1(c, detect(img))),
  counting: captionScorer('counting', 'agreement of detected and claimed counts per object group', (c, img) => countingAgreement(c, detect(img))),
  position: captionScorer('position', "fraction of the caption's spatial relations that hold", (c, img) => spatialAgreement(c, detect(img))),
};

export const BUILTIN_SCORER_NAMES = Object.keys(BUILTIN_SCORERS);

/**
 * A built-in scorer by name, `onnx:<config.yaml>` for a reward model on ONNX Runtime, or
 * `vlm:<config.yaml>` for VQAScore from a VLM server's log-probabilities.
 */
export async function loadScorer(name: string): Promise<Scorer<ScoreResult>> {
  const builtin = BUILTIN_SCORERS[name];
  if (builtin) return builtin;
  if (name.startsWith('onnx:')) return (await import('./onnx/scorers.js')).loadOnnxScorer(name.slice(5));
  if (name.startsWith('vlm:')) return (await import('./vlm.js')).loadVlmScorer(name.slice(4));
  throw new MiroError(`unknown scorer "${name}" (built in: ${BUILTIN_SCORER_NAMES.join(', ')}; or onnx:configs/scorers/<model>.yaml; or vlm:configs/scorers/vqascore-server.yaml)`);
}

/** A scorer's identity without loading its model (for fingerprints at plan time). */
export async function scorerIdentity(name: string): Promise<unknown> {
  if (name.startsWith('onnx:')) {
    const { loadScorerConfig, onnxIdentity } = await import('./onnx/config.js');
    return onnxIdentity(loadScorerConfig(name.slice(5)));
  }
  if (name.startsWith('vlm:')) {
    const { loadVlmScorerConfig, vlmScorerIdentity } = await import('./vlm.js');
    return vlmScorerIdentity(loadVlmScorerConfig(name.slice(4)));
  }
  return (await loadScorer(name)).identity;
}
