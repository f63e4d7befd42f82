// Procedural scenes: a scene graph (objects with shape, colour, size, position; a background;
// degradations) drawn deterministically from a seed, and a renderer with anti-aliased edges
// (4x4 supersampling) that applies the degradations so quality spreads across the dataset.

import {
  BACKGROUNDS,
  BACKGROUND_NAMES,
  COLOURS,
  COLOUR_NAMES,
  SHAPES,
  SIZES,
  SIZE_NAMES,
  type Background,
  type Colour,
  type Shape,
  type Size,
} from './vocab.js';
import { gaussian } from '../util/random.js';

export interface SceneObject {
  shape: Shape;
  colour: Colour;
  size: Size;
  /** Centre, as fractions of the image side (0 = left/top). */
  x: number;
  y: number;
}

export interface Degradations {
  /** Gaussian blur sigma in pixels at 32 px (scaled with the image size). */
  blur: number;
  /** Gaussian noise sigma on the 0-255 scale. */
  noise: number;
  /** 1 = full contrast; lower pulls every pixel towards the mean. */
  contrast: number;
  /** 1 = full colour; lower pulls towards grey. */
  saturation: number;
  /** Count of small clutter specks. */
  clutter: number;
}

export interface Scene {
  background: Background;
  objects: SceneObject[];
  /** Objects deliberately cut by the border. */
  cut: boolean;
  degradations: Degradations;
}

export const CLEAN: Degradations = { blur: 0, noise: 0, contrast: 1, saturation: 1, clutter: 0 };

export interface SceneOptions {
  minObjects: number;
  maxObjects: number;
  /** Probability that each kind of degradation is applied to a scene. */
  degradeProbability: number;
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

function overlaps(a: SceneObject, b: SceneObject): boolean {
  const d = Math.hypot(a.x - b.x, a.y - b.y);
  return d < (SIZES[a.size] + SIZES[b.size]) * 1.25;
}

/** Places objects without overlap; an object that finds no room after 60 tries is dropped. */
export function placeObjects(rand: () => number, wanted: Omit<SceneObject, 'x' | 'y'>[], cut = false): SceneObject[] {
  const placed: SceneObject[] = [];
  for (const [i, o] of wanted.entries()) {
    const r = SIZES[o.size];
    for (let t = 0; t < 60; t++) {
      const lo = r + 0.03;
      const hi = 1 - r - 0.03;
      const cand = { ...o, x: lo + rand() * (hi - lo), y: lo + rand() * (hi - lo) };
      // The first object of a "cut" scene sits across the left or right border.
      if (cut && i === 0) cand.x = rand() < 0.5 ? r * 0.3 : 1 - r * 0.3;
      if (!placed.some((p) => overlaps(p, cand))) {
        placed.push(cand);
        break;
      }
    }
  }
  return placed;
}

export function generateScene(rand: () => number, opts: SceneOptions): Scene {
  const n = opts.minObjects + Math.floor(rand() * (opts.maxObjects - opts.minObjects + 1));
  const wanted = Array.from({ length: n }, () => ({
    shape: pick(rand, SHAPES),
    colour: pick(rand, COLOUR_NAMES),
    size: pick(rand, SIZE_NAMES),
  }));
  // Counting needs repeats: sometimes make every object the same shape and colour.
  if (n >= 2 && rand() < 0.25) for (const w of wanted) Object.assign(w, { shape: wanted[0]!.shape, colour: wanted[0]!.colour });
  const p = opts.degradeProbability;
  const cut = rand() < p * 0.25;
  const degradations: Degradations = {
    blur: rand() < p ? 0.3 + rand() * 1.2 : 0,
    noise: rand() < p ? 4 + rand() * 30 : 0,
    contrast: rand() < p ? 0.3 + rand() * 0.6 : 1,
    saturation: rand() < p ? 0.15 + rand() * 0.7 : 1,
    clutter: rand() < p * 0.5 ? 1 + Math.floor(rand() * 6) : 0,
  };
  return { background: pick(rand, BACKGROUND_NAMES), objects: placeObjects(rand, wanted, cut), cut, degradations };
}

function inside(o: SceneObject, px: number, py: number): boolean {
  const r = SIZES[o.size];
  const dx = px - o.x;
  const dy = py - o.y;
  switch (o.shape) {
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'square': {
      const h = r * 0.9;
      return Math.abs(dx) <= h && Math.abs(dy) <= h;
    }
    case 'triangle': {
      // Pointing up, base at y + h, apex at y - h.
      const h = r * 1.05;
      if (dy < -h || dy > h) return false;
      const halfWidth = ((dy + h) / (2 * h)) * h * 1.15;
      return Math.abs(dx) <= halfWidth;
    }
  }
}

/** Renders a scene to RGB floats on the 0-255 scale, [size * size * 3], before degradations. */
export function renderClean(scene: Scene, size: number): Float32Array {
  const out = new Float32Array(size * size * 3);
  const bg = BACKGROUNDS[scene.background];
  const SS = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const px = (x + (sx + 0.5) / SS) / size;
          const py = (y + (sy + 0.5) / SS) / size;
          let c: readonly number[] = bg;
          for (const o of scene.objects) if (inside(o, px, py)) c = COLOURS[o.colour];
          r += c[0]!;
          g += c[1]!;
          b += c[2]!;
        }
      }
      const i = (y * size + x) * 3;
      out[i] = r / (SS * SS);
      out[i + 1] = g / (SS * SS);
      out[i + 2] = b / (SS * SS);
    }
  }
  return out;
}

export function gaussianBlur(img: Float32Array, size: number, sigma: number): Float32Array {
  if (sigma <= 0) return img;
  const radius = Math.ceil(sigma * 3);
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = kernel.reduce((a, b) => a + b, 0);
  const k = kernel.map((v) => v / sum);
  const pass = (src: Float32Array, horizontal: boolean) => {
    const dst = new Float32Array(src.length);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let t = -radius; t <= radius; t++) {
            const xx = Math.min(size - 1, Math.max(0, horizontal ? x + t : x));
            const yy = Math.min(size - 1, Math.max(0, horizontal ? y : y + t));
            acc += src[(yy * size + xx) * 3 + c]! * k[t + radius]!;
          }
          dst[(y * size + x) * 3 + c] = acc;
        }
      }
    }
    return dst;
  };
  return pass(pass(img, true), false);
}

/** Applies a scene's degradations in a fixed order: clutter, blur, contrast, saturation, noise. */
export function degrade(img: Float32Array, size: number, d: Degradations, rand: () => number): Float32Array {
  let out: Float32Array = img.slice();
  for (let k = 0; k < d.clutter; k++) {
    const x = Math.floor(rand() * size);
    const y = Math.floor(rand() * size);
    const c = [rand() * 255, rand() * 255, rand() * 255];
    for (const dx of [0, 1]) {
      // a speck is two pixels wide
      if (x + dx >= size) continue;
      const i = (y * size + x + dx) * 3;
      out.set(c, i);
    }
  }
  out = gaussianBlur(out, size, d.blur * (size / 32));
  const n = size * size;
  if (d.contrast < 1 || d.saturation < 1) {
    let mean = 0;
    for (let i = 0; i < out.length; i++) mean += out[i]!;
    mean /= out.length;
    for (let p = 0; p < n; p++) {
      const i = p * 3;
      const lum = 0.299 * out[i]! + 0.587 * out[i + 1]! + 0.114 * out[i + 2]!;
      for (let c = 0; c < 3; c++) {
        const v = lum + d.saturation * (out[i + c]! - lum);
        out[i + c] = mean + d.contrast * (v - mean);
      }
    }
  }
  if (d.noise > 0) {
    const g = gaussian(rand);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + d.noise * g();
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(out[i]!)));
  return out;
}

export function renderScene(scene: Scene, size: number, rand: () => number): Float32Array {
  return degrade(renderClean(scene, size), size, scene.degradations, rand);
}
