// The Dials page's sampler, in a worker thread so a request never blocks the server: it loads a
// trained model once (TensorFlow.js, and its text encoder and VAE for a latent model) and answers
// {model dir, prompt, targets, guidance, preset, seed, steps} with a PNG.

import { parentPort, workerData } from 'node:worker_threads';
import { loadTf } from '../model/backend.js';
import { loadModel } from '../model/io.js';
import { loadFrozen, sampleImages } from '../model/sampler.js';
import { guidanceRequest } from '../model/guidance.js';
import { pixelSize } from '../model/config.js';
import { encodePng } from '../util/image.js';
import { configure, type Settings } from '../util/settings.js';

// The settings the CLI read, handed over whole: a worker does not share the main thread's modules.
configure((workerData as { settings: Settings }).settings);

export interface DialRequest {
  id: number;
  model: string;
  prompt: string;
  preset: string;
  targets: Record<string, number>;
  guidance: number;
  seed: number;
  steps: number;
}

type Loaded = Awaited<ReturnType<typeof loadModel>> & { frozen: Awaited<ReturnType<typeof loadFrozen>> };
const models = new Map<string, Promise<Loaded>>();

parentPort!.on('message', async (req: DialRequest) => {
  try {
    const { tf } = await loadTf();
    if (!models.has(req.model))
      models.set(
        req.model,
        loadModel(tf, req.model).then(async (m) => ({ ...m, frozen: await loadFrozen(m.cfg) })),
      );
    const { cfg, params, frozen } = await models.get(req.model)!;
    const g = guidanceRequest(cfg.rewards, { preset: req.preset, guidance: req.guidance, targets: req.targets });
    const t0 = performance.now();
    const [img] = await sampleImages(
      tf,
      cfg,
      params,
      {
        captions: [req.prompt],
        positive: [g.positive],
        negative: g.negative && [g.negative],
        guidance: g.guidance,
        negativeCaption: g.negativeCaption,
        steps: req.steps,
        seed: req.seed,
      },
      frozen,
    );
    const P = pixelSize(cfg);
    parentPort!.postMessage({ id: req.id, png: await encodePng(img!, P, P), ms: performance.now() - t0 });
  } catch (err) {
    parentPort!.postMessage({ id: req.id, error: (err as Error).message });
  }
});
