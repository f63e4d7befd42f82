// The demo's word-level tokenizer over the synthetic world's vocabulary. The paper preset uses a
// frozen text encoder's embeddings instead (precomputed by a node).

import { BACKGROUND_NAMES, COLOUR_NAMES, NUMBER_WORDS, RELATIONS, SHAPES, SIZE_NAMES } from '../synth/vocab.js';

const EXTRA = (
  'a an the of on in to and with is are sits placed appears image shows shape shapes background upper lower middle left right centre ' +
  'above below picture sharp clean rendering crisp flat colours blurry grainy visible noise low contrast washed out cluttered small specks ' +
  'cropped so that cut by border photo stock clipart illustration abstract geometric art untitled wallpaper'
).split(' ');

export const DEMO_VOCAB: string[] = [
  '[pad]',
  '[unk]',
  ...new Set([
    ...SHAPES,
    ...SHAPES.map((s) => `${s}s`),
    ...COLOUR_NAMES,
    ...SIZE_NAMES,
    ...BACKGROUND_NAMES,
    ...NUMBER_WORDS,
    ...RELATIONS.flatMap((r) => r.split(' ')),
    ...EXTRA,
  ]),
];

export function tokenize(text: string, vocab: string[], maxTokens: number): Int32Array {
  const index = new Map(vocab.map((w, i) => [w, i]));
  const ids = new Int32Array(maxTokens); // 0 = [pad]
  const words = text.toLowerCase().match(/[a-z]+|\d+/g) ?? [];
  for (let i = 0; i < Math.min(maxTokens, words.length); i++) ids[i] = index.get(words[i]!) ?? 1;
  return ids;
}
