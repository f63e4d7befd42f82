// A reward model's image input: the S x S pixels its reference pipeline gives (reference.ts:
// open_clip, hf_clip, blip, hpsv2_eval; or libvips, sharp's fast cover resize with no parity
// claim), scaled to [0, 1], normalised by mean and std, laid out as [3, S, S] (CHW). Batches are
// prepared while ONNX Runtime scores the previous one.

import { resizeEncoded, resizeRaw, type Resize, type RGBImage } from '../../util/image.js';
import { openLikePil, referencePixels, type PilImage, type Reference } from './reference.js';
import { MiroError } from '../../errors.js';

const RESIZE: Resize = { fit: 'cover', position: 'centre', kernel: 'cubic' };

/** From encoded bytes when given (decoded as PIL decodes them), else from decoded RGB pixels. */
export async function preprocess(
  img: RGBImage,
  size: number,
  mean: readonly number[],
  std: readonly number[],
  bytes?: Uint8Array,
  reference: Reference = 'open_clip',
): Promise<Float32Array> {
  const px = await pixels(img, size, bytes, reference);
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = (px[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
  return out;
}

/** The S x S interleaved RGB pixels the reference feeds its model. */
async function pixels(img: RGBImage, size: number, bytes: Uint8Array | undefined, reference: Reference): Promise<Uint8Array> {
  if (reference === 'libvips') {
    if (bytes) return resizeEncoded(bytes, size, RESIZE);
    const rgb = Uint8Array.from(img.data, (v) => Math.max(0, Math.min(255, Math.round(v))));
    if (img.width === size && img.height === size) return rgb;
    return resizeRaw(rgb, img.width, img.height, size, RESIZE);
  }
  if (bytes) {
    let opened: PilImage;
    try {
      opened = await openLikePil(bytes);
    } catch (err) {
      throw new MiroError(`cannot decode the image: ${(err as Error).message}`);
    }
    return referencePixels(opened, size, reference);
  }
  const rgb = Uint8Array.from(img.data, (v) => Math.max(0, Math.min(255, Math.round(v))));
  return referencePixels({ mode: 'RGB', width: img.width, height: img.height, channels: 3, data: rgb, zero: [0, 0, 0] }, size, reference);
}

export async function preprocessBatch(
  imgs: RGBImage[],
  size: number,
  mean: readonly number[],
  std: readonly number[],
  bytes?: (Uint8Array | undefined)[],
  reference: Reference = 'open_clip',
): Promise<Float32Array> {
  const each = await Promise.all(imgs.map((img, i) => preprocess(img, size, mean, std, bytes?.[i], reference)));
  const out = new Float32Array(imgs.length * 3 * size * size);
  each.forEach((a, i) => out.set(a, i * a.length));
  return out;
}
