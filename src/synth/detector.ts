// A detector for the synthetic world: segments an image by colour into connected components
// and classifies each component's shape. Colour is judged by the direction of a pixel's chroma
// (its RGB minus its grey level), which blur, low contrast and desaturation shrink but do not
// turn; shape by where its mass sits and how full its bounding box is.

import { COLOURS, COLOUR_NAMES, SIZES, type Colour, type Relation, type Shape } from './vocab.js';
import type { RGBImage } from '../util/image.js';

export interface Detection {
  colour: Colour;
  shape: Shape;
  /** Centroid as fractions of the image side. */
  x: number;
  y: number;
  area: number;
}

const lumOf = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;

const PALETTE_CHROMA = COLOUR_NAMES.map((name) => {
  const [r, g, b] = COLOURS[name];
  const l = lumOf(r, g, b);
  const v = [r - l, g - l, b - l];
  const n = Math.hypot(...v);
  return { name, dir: v.map((x) => x / n) };
});

function chromaOf(img: RGBImage): { mag: Float32Array; label: Int8Array } {
  const n = img.width * img.height;
  const mag = new Float32Array(n);
  const label = new Int8Array(n).fill(-1);
  for (let p = 0; p < n; p++) {
    const r = img.data[p * 3]!;
    const g = img.data[p * 3 + 1]!;
    const b = img.data[p * 3 + 2]!;
    const l = lumOf(r, g, b);
    const v = [r - l, g - l, b - l];
    const m = Math.hypot(v[0]!, v[1]!, v[2]!);
    mag[p] = m;
    let best = -Infinity;
    for (let k = 0; k < PALETTE_CHROMA.length; k++) {
      const d = PALETTE_CHROMA[k]!.dir;
      const cos = (v[0]! * d[0]! + v[1]! * d[1]! + v[2]! * d[2]!) / (m || 1);
      if (cos > best) {
        best = cos;
        label[p] = k;
      }
    }
    if (best < 0.8) label[p] = -1;
  }
  return { mag, label };
}

function boxBlur(img: RGBImage): RGBImage {
  const { width: w, height: h } = img;
  const out = new Float32Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        let n = 0;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            const yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
            acc += img.data[(yy * w + xx) * 3 + c]!;
            n++;
          }
        }
        out[(y * w + x) * 3 + c] = acc / n;
      }
    }
  }
  return { width: w, height: h, data: out };
}

/** Immerkaer's noise sigma estimate on the grey image (see scorers/metrics.ts). */
function noiseSigma(img: RGBImage): number {
  const { width: w, height: h } = img;
  const g = (x: number, y: number) => lumOf(img.data[(y * w + x) * 3]!, img.data[(y * w + x) * 3 + 1]!, img.data[(y * w + x) * 3 + 2]!);
  let sum = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const v =
        g(x - 1, y - 1) -
        2 * g(x, y - 1) +
        g(x + 1, y - 1) -
        2 * g(x - 1, y) +
        4 * g(x, y) -
        2 * g(x + 1, y) +
        g(x - 1, y + 1) -
        2 * g(x, y + 1) +
        g(x + 1, y + 1);
      sum += Math.abs(v);
    }
  }
  return (Math.sqrt(Math.PI / 2) * sum) / (6 * (w - 2) * (h - 2));
}

/**
 * Triangles (apex up) carry their mass low: the centroid sits a sixth of the box below its
 * middle, where circles and squares are centred. A square fills the corners of its box, which
 * a circle never reaches; blur can round a square's corners, so a nearly full box counts too.
 */
function classifyShape(
  inComponent: (x: number, y: number) => boolean,
  area: number,
  cy: number,
  x0: number,
  x1: number,
  y0: number,
  y1: number,
): Shape {
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  if ((cy - (y0 + y1) / 2) / bh > 0.06) return 'triangle';
  const corners = [inComponent(x0, y0), inComponent(x1, y0), inComponent(x0, y1), inComponent(x1, y1)].filter(Boolean).length;
  const fill = area / (bw * bh);
  return corners >= 3 || (corners >= 1 && fill > 0.9) ? 'square' : 'circle';
}

/**
 * Whether a component has the shape evidence the synthetic world draws: a box no smaller than the
 * smallest object (so one or two patch-sized blocks are not objects) and no larger than the
 * largest, about as wide as tall, and as full as its shape fills its box (a circle pi/4, a
 * square 1, a triangle 1/2).
 */
function drawnByTheWorld(shape: Shape, area: number, bw: number, bh: number, side: number): boolean {
  const small = SIZES.small * side;
  const large = SIZES.large * side;
  if (Math.min(bw, bh) < 1.4 * small || Math.max(bw, bh) > 3.2 * large) return false;
  if (Math.max(bw, bh) / Math.min(bw, bh) > 1.6) return false;
  const fill = area / (bw * bh);
  const [lo, hi] = FILL[shape];
  return fill >= lo && fill <= hi;
}

/** The share of its bounding box each shape fills, with room for anti-aliasing, blur and noise. */
const FILL: Record<Shape, [number, number]> = { circle: [0.6, 0.93], square: [0.78, 1], triangle: [0.35, 0.75] };

export function detect(input: RGBImage): Detection[] {
  const img = noiseSigma(input) > 6 ? boxBlur(input) : input;
  const { width: w, height: h } = img;
  const n = w * h;
  const { mag, label } = chromaOf(img);
  const sorted = Float32Array.from(mag).sort();
  const p95 = sorted[Math.floor(n * 0.95)]!;
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(mag[x]!, mag[(h - 1) * w + x]!);
  for (let y = 0; y < h; y++) border.push(mag[y * w]!, mag[y * w + w - 1]!);
  border.sort((a, b) => a - b);
  const bgChroma = border[Math.floor(border.length / 2)]!;
  const threshold = Math.max(8, bgChroma + 0.4 * (p95 - bgChroma));
  const minArea = Math.max(4, 0.2 * Math.PI * (SIZES.small * w) ** 2);

  const seen = new Uint8Array(n);
  const found: Detection[] = [];
  const stack: number[] = [];
  for (let start = 0; start < n; start++) {
    if (seen[start] || label[start]! < 0 || mag[start]! < threshold) continue;
    const k = label[start]!;
    const members = new Set<number>();
    let area = 0;
    let sx = 0;
    let sy = 0;
    let x0 = w;
    let x1 = 0;
    let y0 = h;
    let y1 = 0;
    stack.push(start);
    seen[start] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % w;
      const y = (p - x) / w;
      members.add(p);
      area++;
      sx += x;
      sy += y;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
      for (const q of [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1]) {
        if (q >= 0 && !seen[q] && label[q] === k && mag[q]! >= threshold) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    if (area < minArea) continue;
    const shape = classifyShape((x, y) => members.has(y * w + x), area, sy / area, x0, x1, y0, y1);
    if (!drawnByTheWorld(shape, area, x1 - x0 + 1, y1 - y0 + 1, w)) continue;
    found.push({
      colour: PALETTE_CHROMA[k]!.name,
      shape,
      x: (sx / area + 0.5) / w,
      y: (sy / area + 0.5) / h,
      area,
    });
  }
  return found;
}

/** Whether detection a stands in `relation` to b (centroids, with a margin as a fraction of the side). */
export function holds(relation: Relation, a: Detection, b: Detection, margin = 0.02): boolean {
  switch (relation) {
    case 'left of':
      return a.x < b.x - margin;
    case 'right of':
      return a.x > b.x + margin;
    case 'above':
      return a.y < b.y - margin;
    case 'below':
      return a.y > b.y + margin;
  }
}
