// Checkpoints: a folder per step, `_checkpoints/step-<n>/`, holding model, EMA and optimiser
// tensors as safetensors plus `state.json` (step, data cursor, RNG state, resolved config,
// metrics so far). Written into a temporary folder, synced, then renamed: a checkpoint exists
// whole or not at all. Loading never executes anything from the files.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Variable } from '@tensorflow/tfjs';
import { encodeSafetensors, readSafetensors, type NamedArray } from '../util/safetensors.js';
import { fsyncDir, fsyncFile } from '../store/atomic.js';
import { StoreError } from '../errors.js';
import { NodeLayout } from '../store/layout.js';
import type { StreamCursor } from './stream.js';

export interface CheckpointState {
  step: number;
  cursor: StreamCursor;
  rng: number;
  config: unknown;
  metrics: Record<string, number | null>[];
  /** sha256 of the release manifest the model trained on, when it trained from a release. */
  data_source: { kind: string; hash: string | null };
  /** The TensorFlow.js backend that computed this step (a resumed run may use another). */
  backend?: string;
}

export const checkpointsDir = (nodeDir: string) => new NodeLayout(nodeDir).checkpointsDir();
const stepDir = (nodeDir: string, step: number) => path.join(checkpointsDir(nodeDir), `step-${String(step).padStart(7, '0')}`);

async function arraysOf(vars: Map<string, Variable>): Promise<Map<string, NamedArray>> {
  const out = new Map<string, NamedArray>();
  for (const [name, v] of vars) out.set(name, { shape: v.shape, data: (await v.data()) as Float32Array });
  return out;
}

export async function saveCheckpoint(
  nodeDir: string,
  tensors: { model: Map<string, Variable>; ema: Map<string, Variable>; adam_m: Map<string, Variable>; adam_v: Map<string, Variable> },
  state: CheckpointState,
  keep: number,
): Promise<string> {
  const final = stepDir(nodeDir, state.step);
  const tmp = `${final}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  for (const [name, vars] of Object.entries(tensors)) {
    const file = path.join(tmp, `${name}.safetensors`);
    await fs.writeFile(file, encodeSafetensors(await arraysOf(vars), { step: String(state.step) }));
    await fsyncFile(file);
  }
  const stateFile = path.join(tmp, 'state.json');
  await fs.writeFile(stateFile, JSON.stringify(state));
  await fsyncFile(stateFile);
  await fs.rm(final, { recursive: true, force: true });
  await fs.rename(tmp, final);
  await fsyncDir(checkpointsDir(nodeDir));
  const all = await listCheckpoints(nodeDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await fs.rm(stepDir(nodeDir, old), { recursive: true, force: true });
  return final;
}

export async function listCheckpoints(nodeDir: string): Promise<number[]> {
  const names = await fs.readdir(checkpointsDir(nodeDir)).catch(() => [] as string[]);
  return names
    .map((n) => /^step-(\d+)$/.exec(n)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export interface LoadedCheckpoint {
  dir: string;
  state: CheckpointState;
  tensors: Record<'model' | 'ema' | 'adam_m' | 'adam_v', Map<string, NamedArray>>;
}

export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  let state: CheckpointState;
  try {
    state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as CheckpointState;
  } catch (err) {
    throw new StoreError(`checkpoint ${dir}: unreadable state.json (${(err as Error).message})`, { cause: err });
  }
  const tensors = {} as LoadedCheckpoint['tensors'];
  for (const name of ['model', 'ema', 'adam_m', 'adam_v'] as const)
    tensors[name] = (await readSafetensors(path.join(dir, `${name}.safetensors`))).tensors;
  return { dir, state, tensors };
}

export async function latestCheckpoint(nodeDir: string): Promise<LoadedCheckpoint | undefined> {
  const steps = await listCheckpoints(nodeDir);
  const last = steps.at(-1);
  return last === undefined ? undefined : loadCheckpoint(stepDir(nodeDir, last));
}
