// ONNX Runtime sessions over a model config's files, loaded on first use, with errors that name the
// file, the key and how to get the file.

import { existsSync } from 'node:fs';
import type * as Ort from 'onnxruntime-node';
import { MiroError } from '../errors.js';
import { filePath, type ModelFiles } from './model-files.js';
import { settings } from '../util/settings.js';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

/** onnxruntime-node, imported on first use (its native library is large). */
export async function onnxRuntime(): Promise<typeof Ort> {
  return import('onnxruntime-node');
}

/** An ONNX Runtime session over one of a model config's files, with errors that name the file and key. */
export async function openSession(
  cfg: Pick<ModelFiles, 'name' | 'file' | 'dir' | 'files' | 'export'> & { execution_provider: ExecutionProvider },
  key: string,
  what = 'scorer',
): Promise<Ort.InferenceSession> {
  const file = filePath(cfg, key);
  if (!existsSync(file))
    throw new MiroError(
      `${what} ${cfg.name}: model file ${file} is missing (files.${key} in ${cfg.file}); ${cfg.export ? `export it once where PyTorch is installed: ${cfg.export}` : `run \`miro models fetch ${cfg.file}\``}`,
    );
  try {
    return await (
      await onnxRuntime()
    ).InferenceSession.create(file, {
      executionProviders: [cfg.execution_provider],
      intraOpNumThreads: settings().ortThreads,
    });
  } catch (err) {
    throw new MiroError(`${what} ${cfg.name}: cannot load ${file} (files.${key}): ${(err as Error).message.split('\n')[0]}`);
  }
}
