// PNG bytes <-> RGB floats (0-255, [H * W * 3]) through sharp.

import sharp from 'sharp';

export interface RGBImage {
  width: number;
  height: number;
  /** Interleaved RGB on the 0-255 scale. */
  data: Float32Array;
}

export async function encodePng(data: Float32Array, width: number, height: number): Promise<Uint8Array> {
  const bytes = Uint8ClampedArray.from(data, (v) => Math.round(v));
  const png = await sharp(Buffer.from(bytes.buffer), { raw: { width, height, channels: 3 } })
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
  const { width = 0, height = 0 } = await sharp(bytes).metadata();
  if (width * height > MAX_IMAGE_PIXELS)
    throw new Error(
      `the image is ${width}x${height} = ${(width * height).toLocaleString('en')} pixels, above the limit of ${MAX_IMAGE_PIXELS.toLocaleString('en')}: resize it before scoring`,
    );
  const { data, info } = await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: Float32Array.from(data) };
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
