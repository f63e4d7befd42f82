// `latents`: images through a frozen ONNX VAE encoder (SDXL's in the paper) at the configured
// resolution: `latent_mean` and `latent_std` are BLOBs of C x h x w half floats, row-major. The
// node's manifest records the shape and the normalisation constants the model trains with,
// z_norm = (z - mean) * scale / std per channel. An undecodable image is that row's error.

import path from 'node:path';
import pLimit from 'p-limit';
import { p } from './params.js';
import { defineStage } from './types.js';
import { mapRows, type RowResult } from './base.js';
import { RowError, errorMessage } from '../errors.js';
import { OnnxVae } from '../frozen/vae.js';
import { frozenIdentity, loadVaeConfig, type LatentNormalization } from '../frozen/config.js';
import { encodeFloat16 } from '../util/float16.js';
import { assertDecodes } from '../util/image.js';

/** What a latents node's manifest records (its prepare() state). */
export interface LatentsState {
  vae: string;
  config: string;
  resolution: number;
  /** [C, h, w] */
  shape: [number, number, number];
  dtype: 'float16';
  layout: 'C x h x w, row-major';
  normalization: LatentNormalization;
}

export const latents = defineStage({
  kind: 'latents',
  version: 1,
  doc: 'VAE latent mean and std of each image (float16), for training on latents.',
  mode: 'map',
  params: {
    vae: p.string({ doc: 'VAE config, e.g. configs/encoders/sdxl-vae.yaml' }),
    image: p.column({ doc: 'the image column' }),
    batch_rows: p.int({ doc: 'rows read per batch (the VAE batches by its config)', min: 1, default: 64 }),
  },
  needs: { min: 1, max: 1 },
  rowsCanFail: true,
  columns: () => [
    { name: 'latent_mean', type: 'BLOB' },
    { name: 'latent_std', type: 'BLOB' },
  ],
  reads: (prm) => [prm.image],
  identity: (prm) => frozenIdentity(loadVaeConfig(prm.vae)),
  prepare: async (ctx): Promise<LatentsState> => {
    const cfg = loadVaeConfig(ctx.params.vae);
    const h = cfg.resolution / cfg.factor;
    return {
      vae: cfg.name,
      config: path.resolve(ctx.params.vae),
      resolution: cfg.resolution,
      shape: [cfg.channels, h, h],
      dtype: 'float16',
      layout: 'C x h x w, row-major',
      normalization: cfg.normalization,
    };
  },
  async *run(ctx) {
    const vae = await OnnxVae.load(ctx.params.vae);
    const probe = pLimit(8);
    yield* mapRows(
      ctx,
      { columns: { image: ctx.params.image }, batchRows: ctx.params.batch_rows },
      ['latent_mean', 'latent_std'],
      async (rows) => {
        // Check each image decodes before the batch goes to the VAE, so one bad file fails one row.
        const checked = await Promise.all(
          rows.map((r) =>
            probe(async (): Promise<Uint8Array | RowError> => {
              if (!(r.image instanceof Uint8Array)) return new RowError('no_image', 'image is NULL');
              return assertDecodes(r.image)
                .then(() => r.image as Uint8Array)
                .catch((err) => new RowError('decode_error', errorMessage(err)));
            }),
          ),
        );
        const good = checked.filter((c): c is Uint8Array => !(c instanceof RowError));
        const dists = await vae.encode(good);
        let k = 0;
        return checked.map((c): RowResult => {
          if (c instanceof RowError) return c;
          const d = dists[k++]!;
          if (!d.mean.every(Number.isFinite) || !d.std.every(Number.isFinite))
            return new RowError('bad_latent', 'the VAE encoder returned a non-finite value');
          return { latent_mean: encodeFloat16(d.mean), latent_std: encodeFloat16(d.std) };
        });
      },
    );
  },
});
