// CLIP-style preprocessing: resize the short side to S (bicubic), crop the centre S x S, scale
// to [0, 1], normalise by mean and std, and lay out as [3, S, S] (CHW). sharp does the resizing
// on libuv's thread pool, so the next batch is prepared while ONNX Runtime scores this one.

import sharp from 'sharp';
import type { RGBImage } from '../../synth/image.js';

export async function preprocess(img: RGBImage, size: number, mean: readonly number[], std: readonly number[]): Promise<Float32Array> {
  const raw = Buffer.from(Uint8ClampedArray.from(img.data, (v) => Math.round(v)).buffer);
  const pixels =
    img.width === size && img.height === size
      ? raw
      : await sharp(raw, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(size, size, { fit: 'cover', position: 'centre', kernel: 'cubic' }).raw().toBuffer();
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = (pixels[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
  return out;
}

export async function preprocessBatch(imgs: RGBImage[], size: number, mean: readonly number[], std: readonly number[]): Promise<Float32Array> {
  const each = await Promise.all(imgs.map((i) => preprocess(i, size, mean, std)));
  const out = new Float32Array(imgs.length * 3 * size * size);
  each.forEach((a, i) => out.set(a, i * a.length));
  return out;
}
