// The image codec: the one module that calls sharp (libvips). PNG bytes <-> RGB floats (0-255,
// [H * W * 3]), resizing, the raw decode the PIL-exact preprocessing starts from, and the PNG
// compositing contact sheets use.

import type Sharp from 'sharp';

let codec: typeof Sharp | undefined;

/** sharp, loaded by the first image it handles: libvips costs a command that touches no image (status, --help) a few tenths of a second. */
async function vips(): Promise<typeof Sharp> {
  codec ??= (await import('sharp')).default;
  return codec;
}

export interface RGBImage {
  width: number;
  height: number;
  /** Interleaved RGB on the 0-255 scale. */
  data: Float32Array;
}

export async function encodePng(data: Float32Array, width: number, height: number): Promise<Uint8Array> {
  const bytes = Uint8ClampedArray.from(data, (v) => Math.round(v));
  const png = await (
    await vips()
  )(Buffer.from(bytes.buffer), { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 9, adaptiveFiltering: false, palette: false })
    .toBuffer();
  return new Uint8Array(png);
}

/**
 * The most pixels decodeImage decodes: a scorer holds about 27 bytes a pixel (floats and their
 * copies), so 40M pixels (about 6,300 x 6,300) stay near 1 GB. Larger images are error rows.
 */
export const MAX_IMAGE_PIXELS = 40_000_000;

export async function decodeImage(bytes: Uint8Array): Promise<RGBImage> {
  const { width = 0, height = 0 } = await (await vips())(bytes).metadata();
  if (width * height > MAX_IMAGE_PIXELS)
    throw new Error(
      `the image is ${width}x${height} = ${(width * height).toLocaleString('en')} pixels, above the limit of ${MAX_IMAGE_PIXELS.toLocaleString('en')}: resize it before scoring`,
    );
  const { data, info } = await (
    await vips()
  )(bytes, { limitInputPixels: MAX_IMAGE_PIXELS })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: Float32Array.from(data) };
}

/** Throws when libvips cannot decode every pixel of the bytes (a truncated or corrupt file). */
export async function assertDecodes(bytes: Uint8Array): Promise<void> {
  await (await vips())(bytes).stats();
}

export interface Resize {
  fit: 'cover';
  position: 'centre';
  kernel: 'cubic' | 'linear';
}

/** Encoded bytes as sRGB without alpha, resized to size x size by libvips: interleaved RGB bytes. */
export async function resizeEncoded(bytes: Uint8Array, size: number, how: Resize): Promise<Uint8Array> {
  return (await vips())(bytes).removeAlpha().toColourspace('srgb').resize(size, size, how).raw().toBuffer();
}

/** Interleaved RGB bytes resized by libvips, or with `nearest`, scaled up as blocks. */
export async function resizeRaw(
  rgb: Uint8Array,
  width: number,
  height: number,
  size: number,
  how: Resize | { kernel: 'nearest' },
): Promise<Uint8Array> {
  return (await vips())(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } })
    .resize(size, size, how)
    .raw()
    .toBuffer();
}

/** Bytes decoded as stored, colour profile ignored, for the PIL-exact path (scorers/onnx/reference.ts). */
export interface StoredPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** What libvips reads from a header: the colour space and whether pixels index a palette. */
export async function storedFormat(bytes: Uint8Array): Promise<{ space: string; isPalette: boolean }> {
  const m = await (await vips())(bytes, { ignoreIcc: true, failOn: 'error' }).metadata();
  return { space: m.space ?? 'srgb', isPalette: Boolean(m.isPalette) };
}

/**
 * The channels as stored, 8 bits each, colour profile ignored: CMYK stays CMYK (processing in CMYK
 * keeps libvips from converting through a profile), anything else as decoded (L, LA, RGB, RGBA).
 */
export async function decodeStored(bytes: Uint8Array, cmyk: boolean): Promise<StoredPixels> {
  const img = (await vips())(bytes, { ignoreIcc: true, failOn: 'error' });
  const { data, info } = cmyk
    ? await img.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true })
    : await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** A layer of a composed PNG: encoded image bytes (PNG, SVG) at a position. */
export interface Layer {
  input: Uint8Array;
  left: number;
  top: number;
}

/** Interleaved RGB floats (0-255) of a size x size image as PNG bytes scaled to tile x tile, as blocks. */
export async function tilePng(img: Float32Array, size: number, tile: number): Promise<Uint8Array> {
  return (await vips())(Buffer.from(Uint8ClampedArray.from(img, (v) => Math.round(v)).buffer), {
    raw: { width: size, height: size, channels: 3 },
  })
    .resize(tile, tile, { kernel: 'nearest' })
    .png()
    .toBuffer();
}

/** Layers drawn in order on a white width x height canvas, as PNG bytes. */
export async function composePng(width: number, height: number, layers: Layer[]): Promise<Buffer> {
  return (await vips())({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(layers.map((l) => ({ ...l, input: Buffer.from(l.input.buffer, l.input.byteOffset, l.input.byteLength) })))
    .png()
    .toBuffer();
}

export function grey(img: RGBImage): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  for (let p = 0; p < n; p++) out[p] = 0.299 * img.data[p * 3]! + 0.587 * img.data[p * 3 + 1]! + 0.114 * img.data[p * 3 + 2]!;
  return out;
}

/** The image type its first bytes announce (PNG, JPEG, WebP, GIF), else application/octet-stream. */
export function sniffMime(b: Uint8Array): string {
  if (b[0] === 0x89 && b[1] === 0x50) return 'image/png';
  if (b[0] === 0xff && b[1] === 0xd8) return 'image/jpeg';
  if (b[0] === 0x52 && b[1] === 0x49 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'image/webp';
  if (b[0] === 0x47 && b[1] === 0x49) return 'image/gif';
  return 'application/octet-stream';
}
