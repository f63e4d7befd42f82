// Image preprocessing that reproduces each reward model's reference pipeline, so scores (and the
// bins made from them) match the published models':
//   open_clip   torchvision Resize(S, BICUBIC) on the PIL image as opened, CenterCrop(S), then
//               convert('RGB'): short side to S, long side int(S * long / short), crop offset
//               round((n - S) / 2) (halves to even)
//   hf_clip     Hugging Face CLIPImageProcessor: convert('RGB') first, the same resize, crop
//               offset (n - S) // 2
//   blip        ImageReward's BLIP transform, which is open_clip's
//   hpsv2_eval  HPSv2's evaluation (open_clip's ResizeMaxSize): the long side to S
//               (round(n * S / long)), letterboxed to S x S with black, (S - n) // 2 before
// Decoding follows PIL: embedded colour profiles are ignored. Resizing is Pillow's own algorithm
// in the image's own mode, as Pillow does it: palette images with NEAREST whatever filter is asked,
// RGBA through premultiplied alpha, CMYK in four channels; convert('RGB') then drops alpha,
// expands grey and turns CMYK into RGB by PIL's formula.

import { pilResize, pilResizeNearest } from './pil-resample.js';
import { decodeStored, storedFormat } from '../../util/image.js';

// (`libvips`, sharp's fast cover resize with no parity claim, is preprocess.ts's.)
export const REFERENCES = ['open_clip', 'hf_clip', 'blip', 'hpsv2_eval', 'libvips'] as const;
export type Reference = (typeof REFERENCES)[number];

type Mode = 'RGB' | 'RGBA' | 'L' | 'LA' | 'P' | 'CMYK';

/** An image in PIL's terms: its mode and interleaved 8-bit channels (a palette image already expanded). */
export interface PilImage {
  mode: Mode;
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
  /** The RGB colour of the value 0 in this mode (what a pad with fill 0 shows): palette entry 0, white for CMYK, else black. */
  zero: [number, number, number];
}

/** A PNG's or JPEG's colour space and palette flag from its header, or null for other formats. */
function sniff(bytes: Uint8Array): { space: string; isPalette: boolean } | null {
  if (bytes.length > 26 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47)
    return { space: 'srgb', isPalette: bytes[25] === 3 }; // IHDR colour type 3: indexed
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    for (let off = 2; off + 9 < bytes.length;) {
      if (bytes[off] !== 0xff) return null;
      const marker = bytes[off + 1]!;
      const len = (bytes[off + 2]! << 8) | bytes[off + 3]!;
      // SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC): the component count follows the dimensions.
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
        return { space: bytes[off + 9] === 4 ? 'cmyk' : 'srgb', isPalette: false };
      off += 2 + len;
    }
  }
  return null;
}

/** Palette entry 0 of a PNG (PLTE) or GIF (global colour table); black when there is none. */
function paletteZero(bytes: Uint8Array): [number, number, number] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.subarray(1, 4).toString('latin1') === 'PNG') {
    for (let off = 8; off + 8 <= b.length;) {
      const len = b.readUInt32BE(off);
      if (b.subarray(off + 4, off + 8).toString('latin1') === 'PLTE') return [b[off + 8]!, b[off + 9]!, b[off + 10]!];
      off += 12 + len;
    }
  }
  if (b.subarray(0, 3).toString('latin1') === 'GIF' && b[10]! & 0x80) return [b[13]!, b[14]!, b[15]!];
  return [0, 0, 0];
}

const muldiv255 = (a: number, b: number) => {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
};

/** Image bytes as PIL's Image.open gives them (mode and pixels), colour profile ignored. */
export async function openLikePil(bytes: Uint8Array): Promise<PilImage> {
  // PNG and JPEG say in their headers what matters here (palette, CMYK); other formats ask libvips.
  const meta = sniff(bytes) ?? (await storedFormat(bytes));
  if (meta.space === 'cmyk') {
    const { data, width, height, channels } = await decodeStored(bytes, true);
    return { mode: 'CMYK', width, height, channels, data, zero: [255, 255, 255] };
  }
  const info = await decodeStored(bytes, false);
  const data = info.data;
  const ch = info.channels;
  const mode: Mode = meta.isPalette ? 'P' : ch === 1 ? 'L' : ch === 2 ? 'LA' : ch === 4 ? 'RGBA' : 'RGB';
  return { mode, width: info.width, height: info.height, channels: ch, data, zero: mode === 'P' ? paletteZero(bytes) : [0, 0, 0] };
}

/** PIL's convert('RGB'). */
export function toRgb(img: PilImage): Uint8Array {
  if (img.mode === 'RGB' && img.channels === 3) return img.data; // nothing to convert (callers never write to it)
  const n = img.width * img.height;
  const C = img.channels;
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const i = p * C;
    if (img.mode === 'CMYK') {
      const nk = 255 - img.data[i + 3]!;
      for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.max(0, nk - muldiv255(img.data[i + c]!, nk));
    } else if (C >= 3) for (let c = 0; c < 3; c++) out[p * 3 + c] = img.data[i + c]!;
    else out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = img.data[i]!;
  }
  return out;
}

/** Pillow's Image.resize(size, BICUBIC) in the image's own mode. */
export function resizeLikePil(img: PilImage, outW: number, outH: number): PilImage {
  const { width: w, height: h, channels: C } = img;
  if (img.mode === 'P') return { ...img, width: outW, height: outH, data: pilResizeNearest(img.data, w, h, outW, outH, C) };
  if (img.mode === 'RGBA' || img.mode === 'LA') {
    // Resized premultiplied (RGBa), then un-premultiplied as Pillow's convert does.
    const a = C - 1;
    const pre = Uint8Array.from(img.data, (v, i) => (i % C === a ? v : muldiv255(v, img.data[i - (i % C) + a]!)));
    const r = pilResize(pre, w, h, outW, outH, 'bicubic', C);
    for (let p = 0; p < outW * outH; p++) {
      const alpha = r[p * C + a]!;
      if (alpha === 0 || alpha === 255) continue;
      for (let c = 0; c < a; c++) r[p * C + c] = Math.min(255, Math.floor((255 * r[p * C + c]!) / alpha));
    }
    return { ...img, width: outW, height: outH, data: r };
  }
  return { ...img, width: outW, height: outH, data: pilResize(img.data, w, h, outW, outH, 'bicubic', C) };
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function crop(img: PilImage, left: number, top: number, S: number): PilImage {
  if (left === 0 && top === 0 && img.width === S && img.height === S) return img;
  const C = img.channels;
  const out = new Uint8Array(S * S * C);
  for (let y = 0; y < S; y++)
    out.set(img.data.subarray(((y + top) * img.width + left) * C, ((y + top) * img.width + left + S) * C), y * S * C);
  return { ...img, width: S, height: S, data: out };
}

/** The S x S RGB pixels a reference feeds its model. */
export function referencePixels(opened: PilImage, S: number, reference: Exclude<Reference, 'libvips'>): Uint8Array {
  // Hugging Face converts to RGB before anything else; the torchvision pipelines after cropping.
  const img: PilImage =
    reference === 'hf_clip'
      ? { mode: 'RGB', width: opened.width, height: opened.height, channels: 3, data: toRgb(opened), zero: [0, 0, 0] }
      : opened;
  const { width: w, height: h } = img;
  if (reference === 'hpsv2_eval') {
    const scale = S / Math.max(w, h);
    const nh = roundHalfEven(h * scale);
    const nw = roundHalfEven(w * scale);
    const resized = toRgb(resizeLikePil(img, nw, nh));
    // The letterbox is a pad with fill 0 in the image's own mode (then converted), as torchvision pads.
    const out = new Uint8Array(S * S * 3);
    for (let p = 0; p < S * S; p++) out.set(img.zero, p * 3);
    const top = Math.floor((S - nh) / 2);
    const left = Math.floor((S - nw) / 2);
    for (let y = 0; y < nh; y++) out.set(resized.subarray(y * nw * 3, (y + 1) * nw * 3), ((y + top) * S + left) * 3);
    return out;
  }
  // Short side to S, the long side truncated as torchvision and transformers compute it.
  const [nw, nh] = w <= h ? [S, Math.trunc((S * h) / w)] : [Math.trunc((S * w) / h), S];
  const resized = resizeLikePil(img, nw, nh);
  const offset = (n: number) => (reference === 'hf_clip' ? Math.floor((n - S) / 2) : roundHalfEven((n - S) / 2));
  return toRgb(crop(resized, offset(nw), offset(nh), S));
}
