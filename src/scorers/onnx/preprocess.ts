// CLIP-style preprocessing: resize the short side to S (bicubic), crop the centre S x S, scale
// to [0, 1], normalise by mean and std, and lay out as [3, S, S] (CHW). sharp does the resizing
// on libuv's thread pool, so the next batch is prepared while ONNX Runtime scores this one.

import sharp from 'sharp';
import type { RGBImage } from '../../util/image.js';

const RESIZE = { fit: 'cover', position: 'centre', kernel: 'cubic' } as const;

/** From encoded bytes when given (decode and resize in one pass), else from decoded pixels. */
export async function preprocess(
  img: RGBImage,
  size: number,
  mean: readonly number[],
  std: readonly number[],
  bytes?: Uint8Array,
): Promise<Float32Array> {
  let pixels: Uint8Array;
  if (bytes) pixels = await sharp(bytes).removeAlpha().toColourspace('srgb').resize(size, size, RESIZE).raw().toBuffer();
  else {
    const raw = Buffer.from(Uint8ClampedArray.from(img.data).buffer);
    pixels =
      img.width === size && img.height === size
        ? raw
        : await sharp(raw, { raw: { width: img.width, height: img.height, channels: 3 } })
            .resize(size, size, RESIZE)
            .raw()
            .toBuffer();
  }
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = (pixels[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
  return out;
}

export async function preprocessBatch(
  imgs: RGBImage[],
  size: number,
  mean: readonly number[],
  std: readonly number[],
  bytes?: (Uint8Array | undefined)[],
): Promise<Float32Array> {
  const each = await Promise.all(imgs.map((img, i) => preprocess(img, size, mean, std, bytes?.[i])));
  const out = new Float32Array(imgs.length * 3 * size * size);
  each.forEach((a, i) => out.set(a, i * a.length));
  return out;
}
