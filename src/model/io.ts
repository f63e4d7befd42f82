// A trained model on disk: `config.json` (the resolved ModelConfig) and `ema.safetensors`
// (plus `model.safetensors`, the raw weights), written atomically into the train node's folder.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Variable } from '@tensorflow/tfjs';
import type { Tf } from './backend.js';
import type { ModelConfig } from './config.js';
import type { Params } from './network.js';
import { encodeSafetensors, readSafetensors } from '../util/safetensors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { StoreError } from '../errors.js';

export async function saveModel(
  dir: string,
  cfg: ModelConfig,
  weights: { ema: Map<string, Variable>; model: Map<string, Variable> },
  metadata: Record<string, string>,
): Promise<void> {
  for (const [name, vars] of Object.entries(weights)) {
    const arrays = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, v] of vars) arrays.set(k, { shape: v.shape, data: (await v.data()) as Float32Array });
    await writeFileAtomic(path.join(dir, `${name}.safetensors`), encodeSafetensors(arrays, metadata));
  }
  await writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, metadata }, null, 1));
}

export async function loadModel(
  tf: Tf,
  dir: string,
  which: 'ema' | 'model' = 'ema',
): Promise<{ cfg: ModelConfig; params: Params; metadata: Record<string, string> }> {
  let cfg: ModelConfig & { metadata?: Record<string, string> };
  try {
    cfg = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8'));
  } catch (err) {
    throw new StoreError(`no trained model in ${dir} (config.json: ${(err as Error).message})`, { cause: err });
  }
  const { tensors } = await readSafetensors(path.join(dir, `${which}.safetensors`));
  const params: Params = new Map();
  for (const [name, t] of tensors) params.set(name, tf.variable(tf.tensor(t.data, t.shape), false));
  const { metadata = {}, ...rest } = cfg;
  return { cfg: rest as ModelConfig, params, metadata };
}
