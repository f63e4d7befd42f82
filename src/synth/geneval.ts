// Mini-GenEval: GenEval's six tags over the synthetic vocabulary, judged by the detector. An
// image is correct when every clause of its prompt holds; overall = mean of the tag accuracies.

import { COLOUR_NAMES, RELATIONS, SHAPES, SIZE_NAMES, type Colour, type Relation, type Shape } from './vocab.js';
import { holds, type Detection } from './detector.js';
import { placeObjects, CLEAN, type Scene } from './scene.js';
import { countWord } from './captions.js';
import { mulberry32 } from '../util/random.js';

export const TAGS = ['single_object', 'two_object', 'counting', 'colors', 'position', 'color_attr'] as const;
export type Tag = (typeof TAGS)[number];

export interface ObjectClause {
  shape: Shape;
  colour: Colour | null;
  count: number;
  /** Counting prompts want exactly `count`; the others at least. */
  exact: boolean;
}

export interface GenevalPrompt {
  id: string;
  tag: Tag;
  prompt: string;
  objects: ObjectClause[];
  relation: { a: number; relation: Relation; b: number } | null;
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const an = (w: string) => (/^[aeiou]/.test(w) ? 'an' : 'a');

function twoShapes(rand: () => number): [Shape, Shape] {
  const a = pick(rand, SHAPES);
  return [
    a,
    pick(
      rand,
      SHAPES.filter((s) => s !== a),
    ),
  ];
}

function makePrompt(tag: Tag, rand: () => number, id: string): GenevalPrompt {
  const obj = (shape: Shape, colour: Colour | null = null, count = 1, exact = false): ObjectClause => ({ shape, colour, count, exact });
  switch (tag) {
    case 'single_object': {
      const s = pick(rand, SHAPES);
      return { id, tag, prompt: `a photo of ${an(s)} ${s}`, objects: [obj(s)], relation: null };
    }
    case 'two_object': {
      const [a, b] = twoShapes(rand);
      return { id, tag, prompt: `a photo of ${an(a)} ${a} and ${an(b)} ${b}`, objects: [obj(a), obj(b)], relation: null };
    }
    case 'counting': {
      const s = pick(rand, SHAPES);
      const n = 2 + Math.floor(rand() * 3);
      return { id, tag, prompt: `a photo of ${countWord(n)} ${s}s`, objects: [obj(s, null, n, true)], relation: null };
    }
    case 'colors': {
      const s = pick(rand, SHAPES);
      const c = pick(rand, COLOUR_NAMES);
      return { id, tag, prompt: `a photo of ${an(c)} ${c} ${s}`, objects: [obj(s, c)], relation: null };
    }
    case 'position': {
      const [a, b] = twoShapes(rand);
      const r = pick(rand, RELATIONS);
      return {
        id,
        tag,
        prompt: `a photo of ${an(a)} ${a} ${r} ${an(b)} ${b}`,
        objects: [obj(a), obj(b)],
        relation: { a: 0, relation: r, b: 1 },
      };
    }
    case 'color_attr': {
      const [a, b] = twoShapes(rand);
      const ca = pick(rand, COLOUR_NAMES);
      const cb = pick(
        rand,
        COLOUR_NAMES.filter((c) => c !== ca),
      );
      return {
        id,
        tag,
        prompt: `a photo of ${an(ca)} ${ca} ${a} and ${an(cb)} ${cb} ${b}`,
        objects: [obj(a, ca), obj(b, cb)],
        relation: null,
      };
    }
  }
}

/** The fixed prompt set: `perTag` prompts for each of the six tags, from a fixed seed. */
export function genevalPrompts(perTag = 60, seed = 20240601): GenevalPrompt[] {
  const rand = mulberry32(seed);
  return TAGS.flatMap((tag) => Array.from({ length: perTag }, (_, i) => makePrompt(tag, rand, `${tag}_${String(i).padStart(3, '0')}`)));
}

const fits = (d: Detection, c: ObjectClause) => d.shape === c.shape && (c.colour === null || d.colour === c.colour);

/** Whether an image (its detections) satisfies every clause of the prompt. */
export function judge(prompt: GenevalPrompt, detections: Detection[]): boolean {
  for (const c of prompt.objects) {
    const n = detections.filter((d) => fits(d, c)).length;
    if (c.exact ? n !== c.count : n < c.count) return false;
  }
  const r = prompt.relation;
  if (r) {
    const as = detections.filter((d) => fits(d, prompt.objects[r.a]!));
    const bs = detections.filter((d) => fits(d, prompt.objects[r.b]!));
    if (!as.some((a) => bs.some((b) => holds(r.relation, a, b, 0.05)))) return false;
  }
  return true;
}

/** A clean scene that satisfies the prompt (ground truth for testing the judge). */
export function sceneForPrompt(prompt: GenevalPrompt, rand: () => number): Scene {
  const wanted = prompt.objects.flatMap((c) =>
    Array.from({ length: c.count }, () => ({
      shape: c.shape,
      colour: c.colour ?? pick(rand, COLOUR_NAMES),
      size: pick(rand, SIZE_NAMES.slice(0, 2)),
    })),
  );
  let objects = placeObjects(rand, wanted);
  const r = prompt.relation;
  if (r && objects.length === 2) {
    // Put a and b on the sides the relation names, keeping their sizes.
    const [a, b] = [objects[0]!, objects[1]!];
    const horizontal = r.relation === 'left of' || r.relation === 'right of';
    const first = r.relation === 'left of' || r.relation === 'above';
    const lo = { x: horizontal ? 0.27 : 0.5, y: horizontal ? 0.5 : 0.27 };
    const hi = { x: horizontal ? 0.73 : 0.5, y: horizontal ? 0.5 : 0.73 };
    objects = [
      { ...a, ...(first ? lo : hi) },
      { ...b, ...(first ? hi : lo) },
    ];
  }
  return { background: pick(rand, ['white', 'gray', 'black', 'beige', 'dark'] as const), objects, cut: false, degradations: CLEAN };
}

/**
 * The chance control's pairing: each prompt with the prompt half its tag away, so an image is
 * judged against another prompt of the same tag and a tag's accuracy reads against that tag's
 * chance (a square drawn for "a square" against a square drawn for any single-object prompt).
 */
export function shuffledWithinTag(prompts: readonly GenevalPrompt[]): Map<string, GenevalPrompt> {
  const out = new Map<string, GenevalPrompt>();
  for (const tag of new Set(prompts.map((q) => q.tag))) {
    const same = prompts.filter((q) => q.tag === tag);
    same.forEach((q, k) => out.set(q.id, same[(k + Math.floor(same.length / 2)) % same.length]!));
  }
  return out;
}

export interface GenevalSummary {
  perTag: Record<Tag, number>;
  overall: number;
  n: number;
}

export function summarise(results: { tag: Tag; correct: boolean }[]): GenevalSummary {
  const perTag = Object.fromEntries(
    TAGS.map((t) => {
      const rs = results.filter((r) => r.tag === t);
      return [t, rs.length ? rs.filter((r) => r.correct).length / rs.length : NaN];
    }),
  ) as Record<Tag, number>;
  const present = TAGS.filter((t) => Number.isFinite(perTag[t]));
  const overall = present.reduce((a, t) => a + perTag[t], 0) / Math.max(1, present.length);
  return { perTag, overall, n: results.length };
}
