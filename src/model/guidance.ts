// The one place a guidance request is built: the CLI, the sample stage, the explorer's dials and
// the in-training evaluation all call guidanceRequest, so a preset means the same everywhere.
// Presets: none (one branch), text (the same targets in both branches, the negative one without
// its caption: works for every model, the baseline too), and the reward presets all, only:<r>,
// pair:<a>,<b>,<u> and custom, which need reward tokens (the MIRO paper's multi-reward CFG).

import { MiroError } from '../errors.js';
import type { SampleRequest } from './sampler.js';

export interface GuidanceSpec {
  preset: string;
  /** Guidance weight w; ignored (0) for `none`. */
  guidance: number;
  /** Custom positive targets per reward (custom, text and none read them; 1 where absent). */
  targets?: Record<string, number>;
  /** The negative branch's caption for reward presets (text always drops it). */
  negativeCaption?: 'same' | 'empty';
}

/** One sample's guidance: the fields of a SampleRequest that guidance decides. */
export interface Guidance extends Pick<SampleRequest, 'guidance' | 'negativeCaption'> {
  preset: string;
  positive: number[];
  /** null: one branch, no guidance. */
  negative: number[] | null;
}

export const PRESETS_HELP = 'none, text, all, only:<reward>, pair:<a>,<b>,<u>, custom';

/** Named guidance presets over a model's rewards. */
export function guidancePreset(
  preset: string,
  rewards: string[],
  custom: Record<string, number> = {},
): { positive: number[]; negative: number[] } {
  const ones = rewards.map(() => 1);
  if (preset === 'all') return { positive: ones, negative: rewards.map(() => 0) };
  // Text-only guidance: the same targets in both branches, the negative one without its caption.
  if (preset === 'text') return { positive: ones, negative: ones };
  if (preset.startsWith('only:')) {
    const r = preset.slice(5);
    if (!rewards.includes(r))
      throw new MiroError(`guidance ${preset}: the model has no reward "${r}" (has: ${rewards.join(', ') || 'none'})`);
    return { positive: ones, negative: rewards.map((x) => (x === r ? 0 : 1)) };
  }
  if (preset.startsWith('pair:')) {
    const [a, b, u] = preset.slice(5).split(',');
    const uu = Number(u);
    if (!a || !b || !rewards.includes(a) || !rewards.includes(b) || !(uu >= 0 && uu <= 1))
      throw new MiroError(`guidance ${preset}: expected pair:<a>,<b>,<u in [0,1]> over ${rewards.join(', ')}`);
    return { positive: ones, negative: rewards.map((x) => (x === a ? uu : x === b ? 1 - uu : 1)) };
  }
  if (preset === 'custom') {
    for (const k of Object.keys(custom))
      if (!rewards.includes(k)) throw new MiroError(`guidance custom: unknown reward "${k}" (has: ${rewards.join(', ')})`);
    return { positive: rewards.map((r) => custom[r] ?? 1), negative: rewards.map(() => 0) };
  }
  throw new MiroError(`unknown guidance preset "${preset}" (${PRESETS_HELP})`);
}

/** The guidance of a request on a model with these reward tokens (none for a baseline). */
export function guidanceRequest(rewards: string[], spec: GuidanceSpec): Guidance {
  const custom = spec.targets ?? {};
  for (const k of Object.keys(custom))
    if (!rewards.includes(k)) throw new MiroError(`targets: unknown reward "${k}" (the model has: ${rewards.join(', ') || 'none'})`);
  const positive = rewards.map((r) => custom[r] ?? 1);
  if (spec.preset === 'none') return { preset: 'none', positive, negative: null, guidance: 0, negativeCaption: 'same' };
  if (spec.preset === 'text') return { preset: 'text', positive, negative: positive, guidance: spec.guidance, negativeCaption: 'empty' };
  if (rewards.length === 0)
    throw new MiroError(
      `guidance preset "${spec.preset}" contrasts reward targets, and this model has no reward tokens (a baseline): use text or none`,
    );
  const g = guidancePreset(spec.preset, rewards, custom);
  return {
    preset: spec.preset,
    positive: g.positive,
    negative: g.negative,
    guidance: spec.guidance,
    negativeCaption: spec.negativeCaption ?? 'same',
  };
}
