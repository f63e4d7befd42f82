// Judging generated images: the seven rewards (read against the image's prompt) and mini-GenEval.

import type { RGBImage } from '../util/image.js';
import { BUILTIN_SCORERS } from '../scorers/index.js';
import { detect } from '../synth/detector.js';
import { judge, shuffledWithinTag, summarise, type GenevalPrompt, type GenevalSummary } from '../synth/geneval.js';

/** Per reward, one score per image; rewards without a built-in scorer are left out. */
export async function scoreImages(images: RGBImage[], prompts: string[], rewards: string[]): Promise<Record<string, (number | null)[]>> {
  const out: Record<string, (number | null)[]> = {};
  const batch = images.map((image, i) => ({ image, caption: prompts[i] ?? '' }));
  for (const r of rewards) {
    const scorer = BUILTIN_SCORERS[r];
    if (scorer) out[r] = await scorer.score(batch);
  }
  return out;
}

/** mini-GenEval of one image per prompt, and its chance control (each image against another prompt of its tag). */
export function judgeGeneval(
  prompts: GenevalPrompt[],
  images: RGBImage[],
): { correct: boolean[]; summary: GenevalSummary; chance: GenevalSummary } {
  const detections = images.map((img) => detect(img));
  const shuffled = shuffledWithinTag(prompts);
  const correct = prompts.map((p, i) => judge(p, detections[i]!));
  const control = prompts.map((p, i) => judge(shuffled.get(p.id)!, detections[i]!));
  return {
    correct,
    summary: summarise(prompts.map((p, i) => ({ tag: p.tag, correct: correct[i]! }))),
    chance: summarise(prompts.map((p, i) => ({ tag: p.tag, correct: control[i]! }))),
  };
}

export function mean(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}
