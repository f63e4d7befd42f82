// The reward scorers by name. The seven built-in ones need no weights; `onnx:<config>` scorers
// (the paper's reward models) load their model files on first use; `vlm:<config>` asks a server.

import type { RGBImage } from '../util/image.js';
import { colourfulness, sharpness, contrast, cleanliness } from './metrics.js';
import { objectF1, countingAgreement, spatialAgreement } from './agreement.js';
import { detect } from '../synth/detector.js';
import { MiroError } from '../errors.js';
import { loadScorerConfig } from './onnx/config.js';

export type { Scorer, ScoreInput, ScoreResult } from './types.js';
import type { Scorer, ScoreResult } from './types.js';

function imageScorer(name: string, doc: string, fn: (img: RGBImage) => number, version = 1): Scorer {
  return { name, needsCaption: false, identity: { builtin: name, version }, doc, score: async (batch) => batch.map((b) => fn(b.image)) };
}

function captionScorer(name: string, doc: string, fn: (caption: string, img: RGBImage) => number | null): Scorer {
  return {
    name,
    needsCaption: true,
    identity: { builtin: name, version: 1 },
    doc,
    score: async (batch) => batch.map((b) => fn(b.caption ?? '', b.image)),
  };
}

export const BUILTIN_SCORERS: Record<string, Scorer> = {
  colourfulness: imageScorer('colourfulness', 'Hasler and Suesstrunk (2003) colourfulness M', colourfulness),
  sharpness: imageScorer('sharpness', 'steepest edges over contrast, after a 3x3 median (noise cannot inflate it)', sharpness, 2),
  contrast: imageScorer('contrast', 'RMS contrast of grey levels in [0, 1]', contrast),
  cleanliness: imageScorer('cleanliness', "negative of Immerkaer's noise sigma, from the median so edges do not count", cleanliness, 2),
  objects: captionScorer('objects', 'F1 of detected objects against objects named in the caption', (c, img) => objectF1(c, detect(img))),
  counting: captionScorer('counting', 'agreement of detected and claimed counts per object group', (c, img) =>
    countingAgreement(c, detect(img)),
  ),
  position: captionScorer('position', "fraction of the caption's spatial relations that hold", (c, img) =>
    spatialAgreement(c, detect(img)),
  ),
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
  throw new MiroError(
    `unknown scorer "${name}" (built in: ${BUILTIN_SCORER_NAMES.join(', ')}; or onnx:configs/scorers/<model>.yaml; or vlm:configs/scorers/vqascore-server.yaml)`,
  );
}

/** Whether a scorer reads the caption, known without loading its model (checked when the pipeline loads). */
export function scorerReadsCaption(name: string): boolean {
  if (name.startsWith('onnx:')) return loadScorerConfig(name.slice(5)).kind !== 'clip-mlp';
  if (name.startsWith('vlm:')) return true;
  return BUILTIN_SCORERS[name]?.needsCaption ?? false;
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
