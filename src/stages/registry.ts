// Every stage kind, by the name a pipeline's `uses:` gives.

import type { StageKind } from './types.js';
import { ingest } from './ingest.js';
import { rows } from './rows.js';
import { derive } from './derive.js';
import { synth } from './synth.js';
import { caption } from './caption.js';
import { shortCaption } from './short-caption.js';
import { score } from './score.js';
import { textEmbed } from './text-embed.js';
import { latents } from './latents.js';
import { bins } from './bins.js';
import { train } from './train.js';
import { sample } from './sample.js';
import { evaluate } from './evaluate.js';
import { report } from './report.js';

const all: StageKind[] = [
  ingest,
  rows,
  derive,
  synth,
  caption,
  shortCaption,
  score,
  textEmbed,
  latents,
  bins,
  train,
  sample,
  evaluate,
  report,
] as unknown as StageKind[];

export const stageKinds: ReadonlyMap<string, StageKind> = new Map(all.map((s) => [s.kind, s]));
