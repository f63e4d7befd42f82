// A frozen ONNX VAE (SDXL's in the paper). The encoder turns images, resized on the short side
// and centre-cropped to the configured resolution and scaled to [-1, 1], into the latent
// distribution's mean and std [C, h, w]; the decoder turns latents back into pixels. The model
// trains on normalised latents z_norm = (z - mean) * scale / std per channel; the sampler undoes it.

import type * as Ort from 'onnxruntime-node';
import { openSession } from '../onnx/session.js';
import { MiroError } from '../errors.js';
import { loadVaeConfig, type LatentNormalization, type VaeConfig } from './config.js';
import { resizeEncoded } from '../util/image.js';

/** One image's latent distribution, each [C, h, w] row-major. */
export interface LatentDist {
  mean: Float32Array;
  std: Float32Array;
}

export class OnnxVae {
  private encoder: Ort.InferenceSession | null = null;
  private decoder: Ort.InferenceSession | null = null;

  private constructor(
    readonly cfg: VaeConfig,
    private readonly ort: typeof Ort,
  ) {}

  static async load(configFile: string): Promise<OnnxVae> {
    return new OnnxVae(loadVaeConfig(configFile), await import('onnxruntime-node'));
  }

  /** Latent grid side: resolution / factor. */
  get latentSize(): number {
    return this.cfg.resolution / this.cfg.factor;
  }

  /** Encoded image bytes -> [3, R, R] floats in [-1, 1]: short side resized to R, centre crop, sRGB. */
  async pixels(bytes: Uint8Array): Promise<Float32Array> {
    const R = this.cfg.resolution;
    const raw = await resizeEncoded(bytes, R, { fit: 'cover', position: 'centre', kernel: 'linear' });
    const plane = R * R;
    const out = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = raw[p * 3 + c]! / 127.5 - 1;
    return out;
  }

  /** Images (encoded bytes) -> latent mean and std, in batches of the config's batch_size. */
  async encode(images: Uint8Array[]): Promise<LatentDist[]> {
    this.encoder ??= await openSession(this.cfg, 'encoder', 'VAE');
    const { resolution: R, channels: C, name, inputs, outputs, batch_size } = this.cfg;
    const h = this.latentSize;
    const out: LatentDist[] = [];
    for (let start = 0; start < images.length; start += batch_size) {
      const part = images.slice(start, start + batch_size);
      const px = await Promise.all(part.map((b) => this.pixels(b)));
      const batch = new Float32Array(part.length * 3 * R * R);
      px.forEach((p, i) => batch.set(p, i * p.length));
      const res = await this.encoder.run({ [inputs.encoder]: new this.ort.Tensor('float32', batch, [part.length, 3, R, R]) });
      const [mean, std] = [outputs.mean, outputs.std].map((o) => {
        const t = res[o];
        if (!t) throw new MiroError(`VAE ${name}: the encoder has no output "${o}" (it has ${Object.keys(res).join(', ')})`);
        if (t.dims.join('x') !== [part.length, C, h, h].join('x'))
          throw new MiroError(`VAE ${name}: encoder output ${o} is ${t.dims.join('x')}, expected ${[part.length, C, h, h].join('x')}`);
        return t.data as Float32Array;
      });
      const per = C * h * h;
      for (let i = 0; i < part.length; i++)
        out.push({ mean: mean!.slice(i * per, (i + 1) * per), std: std!.slice(i * per, (i + 1) * per) });
    }
    return out;
  }

  /** Latents [n, C, h, w] (the VAE's own scale) -> images, each [R, R, 3] on the 0-255 scale. */
  async decode(latents: Float32Array, n: number): Promise<Float32Array[]> {
    this.decoder ??= await openSession(this.cfg, 'decoder', 'VAE');
    const { resolution: R, channels: C, name, inputs, outputs } = this.cfg;
    const h = this.latentSize;
    const res = await this.decoder.run({ [inputs.decoder]: new this.ort.Tensor('float32', latents, [n, C, h, h]) });
    const t = res[outputs.sample];
    if (!t) throw new MiroError(`VAE ${name}: the decoder has no output "${outputs.sample}" (it has ${Object.keys(res).join(', ')})`);
    if (t.dims.join('x') !== [n, 3, R, R].join('x'))
      throw new MiroError(`VAE ${name}: decoder output is ${t.dims.join('x')}, expected ${[n, 3, R, R].join('x')}`);
    const data = t.data as Float32Array;
    const plane = R * R;
    return Array.from({ length: n }, (_, i) => {
      const img = new Float32Array(plane * 3);
      for (let p = 0; p < plane; p++)
        for (let c = 0; c < 3; c++) img[p * 3 + c] = Math.min(255, Math.max(0, (data[(i * 3 + c) * plane + p]! + 1) * 127.5));
      return img;
    });
  }
}

/** z [C, h, w] -> (z - mean_c) * scale / std_c, written into `out`. */
export function normalizeLatent(z: Float32Array, norm: LatentNormalization, out = new Float32Array(z.length)): Float32Array {
  const C = norm.mean.length;
  const plane = z.length / C;
  for (let c = 0; c < C; c++)
    for (let p = 0; p < plane; p++) out[c * plane + p] = ((z[c * plane + p]! - norm.mean[c]!) * norm.scale) / norm.std[c]!;
  return out;
}

/** The inverse of normalizeLatent. */
export function denormalizeLatent(z: Float32Array, norm: LatentNormalization, out = new Float32Array(z.length)): Float32Array {
  const C = norm.mean.length;
  const plane = z.length / C;
  for (let c = 0; c < C; c++)
    for (let p = 0; p < plane; p++) out[c * plane + p] = (z[c * plane + p]! * norm.std[c]!) / norm.scale + norm.mean[c]!;
  return out;
}
