// Image-quality rewards that need no weights. Each reads an RGB image on the 0-255 scale.

import { grey, type RGBImage } from '../util/image.js';

/**
 * Colourfulness, Hasler and Suesstrunk (2003), "Measuring colourfulness in natural images":
 * rg = R - G, yb = (R + G) / 2 - B, M = sqrt(sd(rg)^2 + sd(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2).
 */
export function colourfulness(img: RGBImage): number {
  const n = img.width * img.height;
  let srg = 0;
  let syb = 0;
  let qrg = 0;
  let qyb = 0;
  for (let p = 0; p < n; p++) {
    const r = img.data[p * 3]!;
    const g = img.data[p * 3 + 1]!;
    const b = img.data[p * 3 + 2]!;
    const rg = r - g;
    const yb = 0.5 * (r + g) - b;
    srg += rg;
    syb += yb;
    qrg += rg * rg;
    qyb += yb * yb;
  }
  const mrg = srg / n;
  const myb = syb / n;
  const vrg = Math.max(0, qrg / n - mrg * mrg);
  const vyb = Math.max(0, qyb / n - myb * myb);
  return Math.sqrt(vrg + vyb) + 0.3 * Math.sqrt(mrg * mrg + myb * myb);
}

/**
 * Sharpness: how steep the image's strongest edges are for its contrast, after a 3x3 median that
 * removes pixel noise (so noise cannot pass for detail, as it does for the variance of the
 * Laplacian): the 98th percentile of |forward difference| (the larger of x and y) over the
 * median-filtered grey image, divided by its 2nd-98th percentile range (at least 24 grey levels).
 * A step edge scores about 1, a blurred one its slope per pixel over the step.
 */
export function sharpness(img: RGBImage): number {
  const w = img.width;
  const h = img.height;
  if (w < 2 || h < 2) return 0;
  const g = median3x3(grey(img), w, h);
  const steps = new Float32Array((w - 1) * (h - 1));
  let k = 0;
  for (let y = 0; y < h - 1; y++) {
    for (let x = 0; x < w - 1; x++) {
      const i = y * w + x;
      steps[k++] = Math.max(Math.abs(g[i + 1]! - g[i]!), Math.abs(g[i + w]! - g[i]!));
    }
  }
  const sorted = Float32Array.from(g).sort();
  const range = percentile(sorted, 0.98) - percentile(sorted, 0.02);
  return percentile(steps.sort(), 0.98) / Math.max(24, range);
}

/** The q-quantile of ascending values (the value at floor(q * n)). */
function percentile(sorted: Float32Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** 3x3 median with the border replicated. */
export function median3x3(g: Float32Array, w: number, h: number): Float32Array {
  const out = new Float32Array(g.length);
  const win = new Float32Array(9);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let n = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = Math.min(h - 1, Math.max(0, y + dy));
        for (let dx = -1; dx <= 1; dx++) win[n++] = g[yy * w + Math.min(w - 1, Math.max(0, x + dx))]!;
      }
      out[y * w + x] = win.sort()[4]!;
    }
  }
  return out;
}

/** RMS contrast: the standard deviation of grey levels scaled to [0, 1] (Peli, 1990). */
export function contrast(img: RGBImage): number {
  const g = grey(img);
  let s = 0;
  let q = 0;
  for (const v of g) {
    s += v / 255;
    q += (v / 255) ** 2;
  }
  const m = s / g.length;
  return Math.sqrt(Math.max(0, q / g.length - m * m));
}

/**
 * Noise sigma by Immerkaer (1996), "Fast noise variance estimation", made robust to edges: the
 * grey image convolved with N = [1 -2 1; -2 4 -2; 1 -2 1] has standard deviation 6 sigma on pure
 * Gaussian noise, and this takes it from the median of |I * N| (sigma = 1.4826 median / 6) rather
 * than the mean, so the edges of the scene (a minority of pixels) do not count as noise.
 */
export function noiseSigma(img: RGBImage): number {
  const g = grey(img);
  const w = img.width;
  const h = img.height;
  if (w < 3 || h < 3) return 0;
  const r = new Float32Array((w - 2) * (h - 2));
  let k = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const v =
        g[i - w - 1]! -
        2 * g[i - w]! +
        g[i - w + 1]! -
        2 * g[i - 1]! +
        4 * g[i]! -
        2 * g[i + 1]! +
        g[i + w - 1]! -
        2 * g[i + w]! +
        g[i + w + 1]!;
      r[k++] = Math.abs(v);
    }
  }
  return (1.4826 * percentile(r.sort(), 0.5)) / 6;
}

/** Cleanliness: the negative of the noise estimate, so that higher is better like every reward. */
export function cleanliness(img: RGBImage): number {
  return -noiseSigma(img);
}
