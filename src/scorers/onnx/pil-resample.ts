// Pillow's resampling (Resample.c), reimplemented so that a resize matches `Image.resize` to the
// 8-bit value: a separable convolution whose support widens with the downscale factor (so large
// downscales are antialiased over the whole footprint), coefficients normalised per output pixel
// and held as 22-bit fixed point, a horizontal pass into an 8-bit image of the rows the vertical
// pass needs, then the vertical pass, each rounding and clipping to 0-255.

export type PilFilter = 'bicubic' | 'bilinear';

const FILTERS: Record<PilFilter, { support: number; fn: (x: number) => number }> = {
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  bilinear: { support: 1, fn: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  ksize: number;
  /** Per output pixel: first input index and tap count. */
  bounds: Int32Array;
  /** Fixed-point taps, ksize per output pixel. */
  k: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
function coeffs(inSize: number, outSize: number, filter: PilFilter): Coeffs {
  const { support: base, fn } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = Math.max(1, scale);
  const support = base * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    // C's (int) truncates toward zero; the values here are clamped at 0 right after.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = fn((x + xmin - center + 0.5) * ss);
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? pre[x]! / ww : pre[x]!;
      // normalize_coeffs_8bpc: round half away from zero into fixed point.
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, k };
}

// The sums fit in 32 bits (255 x the taps' total weight, under 1.2e9), so integer arithmetic and an
// arithmetic shift right give exactly Pillow's values.
const clip8 = (v: number) => {
  const x = v >> PRECISION_BITS;
  return x < 0 ? 0 : x > 255 ? 255 : x;
};

/** Resizes interleaved 8-bit pixels of C channels from w x h to outW x outH as Pillow does. */
export function pilResize(
  src: Uint8Array,
  w: number,
  h: number,
  outW: number,
  outH: number,
  filter: PilFilter = 'bicubic',
  C = 3,
): Uint8Array {
  if (outW === w && outH === h) return src.slice();
  const half = 1 << (PRECISION_BITS - 1);
  const vert = outH !== h ? coeffs(h, outH, filter) : null;
  // Only the rows the vertical pass reads need the horizontal pass.
  const yFirst = vert ? vert.bounds[0]! : 0;
  const yLast = vert ? vert.bounds[(outH - 1) * 2]! + vert.bounds[(outH - 1) * 2 + 1]! : h;
  let rows = src;
  let rowsW = w;
  let rowOffset = 0;
  const sums = new Float64Array(C);
  if (outW !== w) {
    const hor = coeffs(w, outW, filter);
    const hb = hor.bounds;
    const hk = hor.k;
    const hsize = hor.ksize;
    const n = yLast - yFirst;
    rows = new Uint8Array(n * outW * C);
    for (let y = 0; y < n; y++) {
      const inRow = (y + yFirst) * w * C;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = hb[xx * 2]!;
        const xmax = hb[xx * 2 + 1]!;
        const kk = xx * hsize;
        const o = (y * outW + xx) * C;
        if (C === 3) {
          // The common case, unrolled: three running sums in registers.
          let s0 = half;
          let s1 = half;
          let s2 = half;
          let p = inRow + xmin * 3;
          for (let x = 0; x < xmax; x++, p += 3) {
            const k = hk[kk + x]!;
            s0 = (s0 + src[p]! * k) | 0;
            s1 = (s1 + src[p + 1]! * k) | 0;
            s2 = (s2 + src[p + 2]! * k) | 0;
          }
          rows[o] = clip8(s0);
          rows[o + 1] = clip8(s1);
          rows[o + 2] = clip8(s2);
          continue;
        }
        sums.fill(half);
        for (let x = 0; x < xmax; x++) {
          const p = inRow + (x + xmin) * C;
          const k = hor.k[kk + x]!;
          for (let c = 0; c < C; c++) sums[c] = sums[c]! + src[p + c]! * k;
        }
        for (let c = 0; c < C; c++) rows[o + c] = clip8(sums[c]!);
      }
    }
    rowsW = outW;
    rowOffset = yFirst;
  }
  if (!vert) return rows;
  const out = new Uint8Array(outW * outH * C);
  const vb = vert.bounds;
  const vk = vert.k;
  const vsize = vert.ksize;
  for (let yy = 0; yy < outH; yy++) {
    const ymin = vb[yy * 2]! - rowOffset;
    const ymax = vb[yy * 2 + 1]!;
    const kk = yy * vsize;
    for (let xx = 0; xx < outW; xx++) {
      const o = (yy * outW + xx) * C;
      if (C === 3) {
        let s0 = half;
        let s1 = half;
        let s2 = half;
        const stride = rowsW * 3;
        let p = (ymin * rowsW + xx) * 3;
        for (let y = 0; y < ymax; y++, p += stride) {
          const k = vk[kk + y]!;
          s0 = (s0 + rows[p]! * k) | 0;
          s1 = (s1 + rows[p + 1]! * k) | 0;
          s2 = (s2 + rows[p + 2]! * k) | 0;
        }
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
        continue;
      }
      sums.fill(half);
      for (let y = 0; y < ymax; y++) {
        const p = ((y + ymin) * rowsW + xx) * C;
        const k = vert.k[kk + y]!;
        for (let c = 0; c < C; c++) sums[c] = sums[c]! + rows[p + c]! * k;
      }
      for (let c = 0; c < C; c++) out[o + c] = clip8(sums[c]!);
    }
  }
  return out;
}

/** Pillow's NEAREST resize (what it uses for palette images whatever filter is asked): source pixel floor((x + 0.5) * scale). */
export function pilResizeNearest(src: Uint8Array, w: number, h: number, outW: number, outH: number, C: number): Uint8Array {
  const out = new Uint8Array(outW * outH * C);
  const sx = w / outW;
  const sy = h / outH;
  for (let y = 0; y < outH; y++) {
    const yin = Math.min(h - 1, Math.floor((y + 0.5) * sy));
    for (let x = 0; x < outW; x++) {
      const xin = Math.min(w - 1, Math.floor((x + 0.5) * sx));
      out.set(src.subarray((yin * w + xin) * C, (yin * w + xin + 1) * C), (y * outW + x) * C);
    }
  }
  return out;
}
