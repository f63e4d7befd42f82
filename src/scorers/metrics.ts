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

/** Sharpness: variance of the 4-neighbour Laplacian of the grey image (Pech-Pacheco et al., 2000). */
export function sharpness(img: RGBImage): number {
  const g = grey(img);
  const w = img.width;
  const h = img.height;
  let s = 0;
  let q = 0;
  let n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const lap = g[i - w]! + g[i + w]! + g[i - 1]! + g[i + 1]! - 4 * g[i]!;
      s += lap;
      q += lap * lap;
      n++;
    }
  }
  if (n === 0) return 0;
  return q / n - (s / n) ** 2;
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
 * Noise sigma by Immerkaer (1996), "Fast noise variance estimation": convolve the grey image
 * with N = [1 -2 1; -2 4 -2; 1 -2 1] and take sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * N|.
 */
export function noiseSigma(img: RGBImage): number {
  const g = grey(img);
  const w = img.width;
  const h = img.height;
  if (w < 3 || h < 3) return 0;
  let sum = 0;
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
      sum += Math.abs(v);
    }
  }
  return (Math.sqrt(Math.PI / 2) * sum) / (6 * (w - 2) * (h - 2));
}

/** Cleanliness: the negative of the noise estimate, so that higher is better like every reward. */
export function cleanliness(img: RGBImage): number {
  return -noiseSigma(img);
}
