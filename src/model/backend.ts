// TensorFlow.js, loaded on first use with the fastest backend that loads here: the native GPU
// binding, then the native CPU binding (both optional dependencies that cannot install on every
// machine), then WebAssembly, then plain JavaScript. `--backend` (or MIRO_TF_BACKEND) overrides.

import path from 'node:path';
import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs';
import { MiroError } from '../errors.js';

export type Tf = typeof TF;
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

let loaded: Promise<{ tf: Tf; backend: string }> | undefined;

async function tryBackend(name: BackendName): Promise<Tf | undefined> {
  try {
    if (name === 'tensorflow-gpu' || name === 'tensorflow') {
      // The native bindings register the `tensorflow` backend and bring their own tfjs.
      const tf = (await import(name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node')) as unknown as Tf;
      await tf.setBackend('tensorflow');
      return tf;
    }
    const tf = await import('@tensorflow/tfjs');
    if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dist = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
      wasm.setWasmPaths(`${dist}${path.sep}`);
    }
    if (!(await tf.setBackend(name))) return undefined;
    await tf.ready();
    return tf;
  } catch {
    return undefined;
  }
}

/** Loads TensorFlow.js once per process. */
export function loadTf(preferred?: string, log: (m: string) => void = () => {}): Promise<{ tf: Tf; backend: string }> {
  loaded ??= (async () => {
    const want = preferred || process.env.MIRO_TF_BACKEND;
    const order = want ? [want as BackendName] : [...BACKEND_ORDER];
    for (const name of order) {
      if (!BACKEND_ORDER.includes(name)) throw new MiroError(`unknown backend "${name}" (known: ${BACKEND_ORDER.join(', ')})`);
      const tf = await tryBackend(name);
      if (tf) {
        const { registerFastMatMulGradient } = await import('./fast-grad.js');
        registerFastMatMulGradient(tf);
        log(`TensorFlow.js backend: ${tf.getBackend()} (${name})`);
        return { tf, backend: name };
      }
    }
    throw new MiroError(`no TensorFlow.js backend could be loaded (tried ${order.join(', ')})`);
  })();
  return loaded;
}
