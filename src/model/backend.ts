// TensorFlow.js, loaded on first use with the fastest backend that loads here: the native GPU
// binding (CUDA), then WebGPU through Dawn's Node binding (Vulkan, Metal or D3D12), then the native
// CPU binding (all three optional dependencies that cannot install or run on every machine), then
// WebAssembly, then plain JavaScript. `--backend` (or MIRO_TF_BACKEND) overrides.

import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs';
import { MiroError } from '../errors.js';
import { settings } from '../util/settings.js';

export type Tf = typeof TF;
export const BACKEND_ORDER = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

let loaded: Promise<{ tf: Tf; backend: string }> | undefined;

/** Whether the machine shows a GPU device at all (Linux: an NVIDIA or DRI render node); elsewhere, assume so. */
function gpuDevicePresent(): boolean {
  if (os.platform() !== 'linux') return true;
  return existsSync('/dev/nvidia0') || (existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD')));
}

/**
 * Dawn's WebGPU for Node, exposed as navigator.gpu for TensorFlow.js's WebGPU backend. A software
 * (fallback) adapter is slower than wasm, so it counts only when asked for by name.
 */
async function webgpuTf(explicit: boolean): Promise<Tf | undefined> {
  if (!explicit && !gpuDevicePresent()) return undefined; // Dawn would only print that it found no Vulkan
  const dawn = (await import('webgpu')) as unknown as { create(flags: string[]): GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter || (adapter.info?.isFallbackAdapter && !explicit)) return undefined;
  Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu }, configurable: true });
  const tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) return undefined;
  await tf.ready();
  return tf;
}

/** The backend's TensorFlow.js, or why it did not load. */
async function tryBackend(name: BackendName, explicit: boolean): Promise<Tf | string> {
  try {
    if (name === 'webgpu')
      return (await webgpuTf(explicit)) ?? 'no hardware WebGPU adapter (Dawn found no GPU through Vulkan, Metal or D3D12)';
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
    if (!(await tf.setBackend(name))) return `tf.setBackend('${name}') failed`;
    await tf.ready();
    return tf;
  } catch (err) {
    return (err as Error).message.split('\n')[0]!;
  }
}

/** Loads TensorFlow.js once per process. */
export function loadTf(preferred?: string, log: (m: string) => void = () => {}): Promise<{ tf: Tf; backend: string }> {
  loaded ??= (async () => {
    const want = preferred || settings().tfBackend;
    const order = want ? [want as BackendName] : [...BACKEND_ORDER];
    const failures: string[] = [];
    for (const name of order) {
      if (!BACKEND_ORDER.includes(name)) throw new MiroError(`unknown backend "${name}" (known: ${BACKEND_ORDER.join(', ')})`);
      const tf = await tryBackend(name, Boolean(want));
      if (typeof tf === 'string') {
        failures.push(`${name}: ${tf}`);
        continue;
      }
      const { registerFastMatMulGradient } = await import('./fast-grad.js');
      registerFastMatMulGradient(tf);
      const { registerWasmConvFilterGradient } = await import('./wasm-conv-grad.js');
      registerWasmConvFilterGradient(tf);
      log(`TensorFlow.js backend: ${tf.getBackend()} (${name})`);
      return { tf, backend: name };
    }
    throw new MiroError(`no TensorFlow.js backend could be loaded (${failures.join('; ')})`);
  })();
  return loaded;
}
