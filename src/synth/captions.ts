// Text about scenes: web-like alt text (short and imperfect), long descriptive captions in the
// manner of the paper's long-caption prompt, a parser that reads object mentions and spatial
// relations back out of any caption in this vocabulary, and a short-caption summariser.

import {
  COLOUR_NAMES,
  NUMBER_WORDS,
  RELATIONS,
  SHAPES,
  SIZE_NAMES,
  plural,
  type Colour,
  type Relation,
  type Shape,
  type Size,
} from './vocab.js';
import type { Scene, SceneObject } from './scene.js';

export interface Mention {
  count: number;
  colour: Colour | null;
  shape: Shape;
  size: Size | null;
}

export interface RelationClaim {
  a: { colour: Colour | null; shape: Shape };
  relation: Relation;
  b: { colour: Colour | null; shape: Shape };
}

export interface CaptionClaims {
  objects: Mention[];
  relations: RelationClaim[];
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const article = (word: string) => (/^[aeiou]/.test(word) ? 'an' : 'a');

export function countWord(n: number): string {
  return NUMBER_WORDS[n] ?? String(n);
}

function phrase(count: number, colour: string | null, shape: Shape, size: string | null = null): string {
  const words = [size, colour].filter(Boolean).join(' ');
  const noun = plural(shape, count);
  const body = words ? `${words} ${noun}` : noun;
  return count === 1 ? `${article(body)} ${body}` : `${countWord(count)} ${body}`;
}

function joinAnd(parts: string[]): string {
  if (parts.length <= 1) return parts[0] ?? '';
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

export function groupObjects(objects: readonly SceneObject[]): { colour: Colour; shape: Shape; count: number }[] {
  const groups: { colour: Colour; shape: Shape; count: number }[] = [];
  for (const o of objects) {
    const g = groups.find((x) => x.colour === o.colour && x.shape === o.shape);
    if (g) g.count++;
    else groups.push({ colour: o.colour, shape: o.shape, count: 1 });
  }
  return groups;
}

/** The relation of a to b, by the larger of the horizontal and vertical offsets. */
export function relationOf(a: { x: number; y: number }, b: { x: number; y: number }): Relation {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  if (Math.abs(dx) >= Math.abs(dy)) return dx > 0 ? 'left of' : 'right of';
  return dy > 0 ? 'above' : 'below';
}

/** Short, imperfect alt text: sometimes an object missing, a colour wrong, or nothing specific. */
export function altText(scene: Scene, rand: () => number): string {
  if (scene.objects.length === 0 || rand() < 0.12)
    return pick(rand, ['image', 'abstract shapes', 'a picture', 'geometric art', 'untitled', 'shapes wallpaper']);
  let groups = groupObjects(scene.objects).map((g) => ({ ...g, colour: g.colour as string | null }));
  if (groups.length > 1 && rand() < 0.15) groups = groups.slice(0, -1);
  if (rand() < 0.1)
    groups[0]!.colour = pick(
      rand,
      COLOUR_NAMES.filter((c) => c !== groups[0]!.colour),
    );
  if (rand() < 0.2) for (const g of groups) g.colour = null;
  let text = joinAnd(groups.map((g) => phrase(g.count, g.colour, g.shape)));
  const [a, b] = scene.objects;
  if (a && b && groups.length >= 2 && rand() < 0.3) {
    text = `${phrase(1, a.colour, a.shape)} ${relationOf(a, b)} ${phrase(1, b.colour, b.shape)}`;
  }
  // Web alt text often starts like this; 'a photo of' is also how mini-GenEval prompts start, so
  // evaluation prompts stay in the distribution the model was trained on.
  if (rand() < 0.4)
    text = `${pick(rand, ['a photo of', 'a photo of', 'a photo of', 'stock image of', 'clipart:', 'illustration with'])} ${text}`;
  return text;
}

function where(o: SceneObject): string {
  const v = o.y < 0.4 ? 'upper' : o.y > 0.6 ? 'lower' : 'middle';
  const h = o.x < 0.4 ? 'left' : o.x > 0.6 ? 'right' : 'centre';
  return v === 'middle' && h === 'centre' ? 'centre' : v === 'middle' ? `middle ${h}` : `${v} ${h}`;
}

function qualityWords(scene: Scene): string[] {
  const d = scene.degradations;
  const q: string[] = [];
  if (d.blur > 0.6) q.push('blurry');
  if (d.noise > 12) q.push('grainy with visible noise');
  if (d.contrast < 0.6) q.push('low in contrast');
  if (d.saturation < 0.5) q.push('washed out');
  if (d.clutter > 0) q.push('cluttered with small specks');
  if (scene.cut) q.push('cropped so that a shape is cut by the border');
  return q;
}

/** A long caption: every object with size, colour and place, relations, background, quality. */
export function longCaption(scene: Scene, variant: number): string {
  const verbs = ['sits', 'is placed', 'appears'];
  const verb = verbs[variant % verbs.length]!;
  const n = scene.objects.length;
  const out: string[] = [];
  out.push(`The image shows ${countWord(n)} ${n === 1 ? 'shape' : 'shapes'} on a ${scene.background} background.`);
  for (const o of scene.objects) out.push(`${capital(phrase(1, o.colour, o.shape, o.size))} ${verb} in the ${where(o)}.`);
  for (let i = 0; i + 1 < n; i++) {
    const a = scene.objects[i]!;
    const b = scene.objects[i + 1]!;
    out.push(
      `The ${a.colour} ${a.shape} is ${relationOf(a, b).replace('left of', 'to the left of').replace('right of', 'to the right of')} the ${b.colour} ${b.shape}.`,
    );
  }
  const q = qualityWords(scene);
  out.push(
    q.length
      ? `The picture is ${joinAnd(q)}.`
      : variant % 2
        ? 'The picture is sharp and clean.'
        : 'The rendering is crisp, with clean flat colours.',
  );
  return out.join(' ');
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const MENTION = new RegExp(
  `\\b(?:(a|an|the|one|two|three|four|five|\\d+)\\s+)?(?:(${SIZE_NAMES.join('|')})\\s+)?(?:(${COLOUR_NAMES.join('|')})\\s+)?(${SHAPES.join('|')})(s?)\\b`,
  'gi',
);

/** Reads object mentions and relations. Mentions with "the" refer back and are not counted. */
export function parseCaption(text: string): CaptionClaims {
  const objects: Mention[] = [];
  const relations: RelationClaim[] = [];
  for (const sentence of text.toLowerCase().split(/[.;\n]+/)) {
    const found: { m: Mention; start: number; end: number; ref: boolean }[] = [];
    for (const m of sentence.matchAll(MENTION)) {
      const det = m[1];
      const count =
        !det || det === 'a' || det === 'an' || det === 'the'
          ? m[5]
            ? 2
            : 1
          : Number.isFinite(Number(det))
            ? Number(det)
            : NUMBER_WORDS.indexOf(det as (typeof NUMBER_WORDS)[number]) === -1
              ? 5
              : NUMBER_WORDS.indexOf(det as (typeof NUMBER_WORDS)[number]);
      found.push({
        m: { count, colour: (m[3] as Colour) ?? null, shape: m[4] as Shape, size: (m[2] as Size) ?? null },
        start: m.index!,
        end: m.index! + m[0].length,
        ref: det === 'the',
      });
    }
    for (const f of found) if (!f.ref) objects.push(f.m);
    for (let i = 0; i + 1 < found.length; i++) {
      const between = sentence.slice(found[i]!.end, found[i + 1]!.start);
      const rel = RELATIONS.find((r) => between.includes(r));
      if (rel && !/\band\b|,/.test(between)) {
        relations.push({
          a: { colour: found[i]!.m.colour, shape: found[i]!.m.shape },
          relation: rel,
          b: { colour: found[i + 1]!.m.colour, shape: found[i + 1]!.m.shape },
        });
      }
    }
  }
  return { objects, relations };
}

/**
 * Conservative CLIP token count. Every word of this vocabulary is a common English word,
 * one token in CLIP's 49k BPE vocabulary; any other word is counted as one token per
 * character (BPE never splits a word into more pieces than it has characters). Each
 * punctuation mark is one token, plus the start and end tokens.
 */
export function clipTokenBound(text: string): number {
  let n = 2;
  for (const tok of text.toLowerCase().match(/[a-z]+|\d|[^\sa-z\d]/g) ?? [])
    n += KNOWN_WORDS.has(tok) || /[^a-z]/.test(tok) ? 1 : tok.length;
  return n;
}

const KNOWN_WORDS = new Set([
  ...SHAPES,
  ...SHAPES.map((s) => `${s}s`),
  ...COLOUR_NAMES,
  ...SIZE_NAMES,
  ...NUMBER_WORDS,
  'a',
  'an',
  'the',
  'and',
  'on',
  'of',
  'in',
  'left',
  'right',
  'above',
  'below',
  'to',
  'background',
  'white',
  'gray',
  'dark',
  'black',
  'beige',
  'blurry',
  'grainy',
  'noisy',
  'low',
  'contrast',
  'washed',
  'out',
  'cluttered',
  'cropped',
  'image',
  'with',
]);

/** A short caption from a long one: the objects, one relation, the background; fits 77 tokens. */
export function shortCaption(long: string, maxTokens = 77): string {
  const claims = parseCaption(long);
  const groups: Mention[] = [];
  for (const m of claims.objects) {
    const g = groups.find((x) => x.colour === m.colour && x.shape === m.shape);
    if (g) g.count += m.count;
    else groups.push({ ...m, size: null });
  }
  const background = /on an? (\w+) background/i.exec(long)?.[1];
  const parts = [joinAnd(groups.map((g) => phrase(g.count, g.colour, g.shape))) || 'an image'];
  const r = claims.relations[0];
  if (r)
    parts.push(
      `the ${[r.a.colour, r.a.shape].filter(Boolean).join(' ')} ${r.relation} the ${[r.b.colour, r.b.shape].filter(Boolean).join(' ')}`,
    );
  if (background) parts.push(`on a ${background} background`);
  if (/blurry/.test(long)) parts.push('blurry');
  if (/noise|grainy/.test(long)) parts.push('noisy');
  let text = parts.join(', ');
  while (clipTokenBound(text) > maxTokens && parts.length > 1) {
    parts.pop();
    text = parts.join(', ');
  }
  return text;
}
