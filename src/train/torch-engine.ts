// `engine: torch`: the train node hands training to PyTorch's own distributed engine
// (python/miro_torch/train.py under torchrun) and keeps everything around it: the node writes
// _torch/plan.json (model config, initial weights, optimiser, the data stream of stream.ts),
// launches one process or torchrun (or srun + torchrun across the nodes of a Slurm allocation),
// then reads back the checkpoints the trainer wrote in this project's own format. A plan left by
// a job that already finished (a cluster without Node.js ran it: deploy/slurm/train-torch.sbatch)
// is picked up without launching anything.

import { spawn, spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tf } from '../model/backend.js';
import type { ModelConfig } from '../model/config.js';
import { initParams, type Params } from '../model/network.js';
import { encodeSafetensors, readSafetensors, type NamedArray } from '../util/safetensors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { deriveSeed } from '../util/random.js';
import { StageError } from '../errors.js';
import { listCheckpoints, loadCheckpoint, checkpointsDir, type CheckpointState } from './checkpoint.js';
import type { OptimConfig } from './optim.js';
import type { StreamPlan } from './stream.js';
import type { TimeSampling } from '../model/flow.js';
import { settings } from '../util/settings.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface TorchPlan {
  dir: string;
  model: ModelConfig;
  init: string;
  optim: OptimConfig;
  steps: number;
  batch_size: number;
  seed: number;
  time_sampling: TimeSampling;
  checkpoint_every: number;
  keep_checkpoints: number;
  eval_every: number;
  data_source: CheckpointState['data_source'];
  data: StreamPlan;
  /** 'cpu' forces the CPU where a GPU is present; 'auto' takes a GPU when there is one. */
  device: 'auto' | 'cpu';
}

export interface TorchLaunch {
  node: string;
  python: string;
  /** Processes on this machine (one per GPU; CPU ranks use gloo). */
  nprocPerNode: number;
  /** Another job runs the trainer on the plan (a cluster without Node.js): only write the plan and read back. */
  external: boolean;
  log: (m: string) => void;
  progress: (step: number, total: number, loss: number) => void;
}

export interface TorchResult {
  params: Params;
  ema: Params;
  metrics: Record<string, number | null>[];
  /** The EMA weights the trainer saved at each evaluation step. */
  evalSnapshots: { step: number; file: string }[];
}

/** The interpreter to use, checked for PyTorch before anything is written. */
export function checkPython(node: string, python: string): void {
  const r = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8', env: { ...settings().environment } });
  if (r.status !== 0)
    throw new StageError(
      node,
      0,
      `engine: torch needs Python with PyTorch and NumPy, and ${python} has none (${(r.stderr || String(r.error?.message ?? '')).trim().split('\n').at(-1)}). ` +
        'Install them (pip install torch numpy pyarrow; on Debian apt-get install python3-torch python3-numpy), ' +
        'or name another interpreter with with.python or MIRO_PYTHON. Nothing of this node was changed.',
    );
}

export async function writePlan(tf: Tf, plan: Omit<TorchPlan, 'init'>): Promise<string> {
  const dir = path.join(plan.dir, '_torch');
  await fs.mkdir(dir, { recursive: true });
  // The TensorFlow.js engine's own initial weights, so both engines start from the same point.
  const init = path.join(dir, 'init.safetensors');
  const params = initParams(tf, plan.model, deriveSeed(plan.seed, 'init'));
  const arrays = new Map<string, NamedArray>();
  for (const [name, v] of params) arrays.set(name, { shape: v.shape, data: (await v.data()) as Float32Array });
  tf.dispose([...params.values()]);
  await writeFileAtomic(init, encodeSafetensors(arrays));
  const file = path.join(dir, 'plan.json');
  // Paths relative to the plan's folder: a data root copied elsewhere (to a GPU machine) still reads.
  const rel = (p: string) => path.relative(dir, p);
  const data = {
    ...plan.data,
    units: plan.data.units.map((u) => Object.fromEntries(Object.entries(u).map(([n, fs]) => [n, fs.map(rel)]))),
  };
  await writeFileAtomic(file, JSON.stringify({ ...plan, dir: rel(plan.dir), init: rel(init), data }, null, 1));
  return file;
}

/** A plan file with its paths made absolute again (they are stored relative to the plan's folder). */
export function readPlan(file: string): TorchPlan {
  const plan = JSON.parse(readFileSync(file, 'utf8')) as TorchPlan;
  const abs = (p: string) => path.resolve(path.dirname(file), p);
  const units = plan.data.units.map((u) => Object.fromEntries(Object.entries(u).map(([n, fs]) => [n, fs.map(abs)])));
  return { ...plan, dir: abs(plan.dir), init: abs(plan.init), data: { ...plan.data, units } };
}

/** argv for this machine: one process, torchrun on one node, or srun + torchrun across a Slurm allocation. */
export function launchArgv(python: string, planFile: string, nprocPerNode: number, env = settings().environment): string[] {
  const nnodes = Number(env.SLURM_NNODES ?? '1');
  const train = ['-m', 'miro_torch.train', planFile];
  // torch 1.13's launcher cannot parse its own default "0" for these on Python 3.11 (IntFlag).
  const quirks = ['--redirects', '1', '--tee', '1'];
  if (env.SLURM_JOB_ID && nnodes > 1) {
    const rdzv = `${env.MIRO_RDZV_HOST ?? '$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)'}:${env.MIRO_RDZV_PORT ?? '29500'}`;
    const run = [python, '-m', 'torch.distributed.run', '--nnodes', String(nnodes), '--nproc_per_node', String(nprocPerNode), ...quirks];
    const cmd = [...run, '--rdzv_backend', 'c10d', '--rdzv_endpoint', rdzv, '--rdzv_id', env.SLURM_JOB_ID, ...train].join(' ');
    return ['srun', '--ntasks-per-node=1', `--nodes=${nnodes}`, 'bash', '-c', cmd];
  }
  if (nprocPerNode > 1)
    return [python, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', String(nprocPerNode), ...quirks, ...train];
  return [python, ...train];
}

/** Runs the trainer (unless a finished run's last checkpoint is already there) and reads back its result. */
export async function trainWithTorch(tf: Tf, plan: Omit<TorchPlan, 'init'>, o: TorchLaunch): Promise<TorchResult> {
  if (!o.external) checkPython(o.node, o.python);
  const planFile = await writePlan(tf, plan);
  const finished = (await listCheckpoints(plan.dir)).at(-1) === plan.steps;
  if (!finished && o.external)
    throw new StageError(
      o.node,
      0,
      `launch: external: the plan is at ${planFile}; train it with \`sbatch deploy/slurm/train-torch.sbatch ${planFile}\` ` +
        `(or torchrun -m miro_torch.train ${planFile}), then run this pipeline again to finish the node`,
    );
  if (!finished) await launch(planFile, plan.steps, o);
  const last = (await listCheckpoints(plan.dir)).at(-1);
  if (last !== plan.steps)
    throw new StageError(
      o.node,
      0,
      `the torch trainer exited without its final checkpoint (step ${plan.steps}) in ${checkpointsDir(plan.dir)}`,
    );
  const ckpt = await loadCheckpoint(path.join(checkpointsDir(plan.dir), `step-${String(last).padStart(7, '0')}`));
  const evalDir = path.join(plan.dir, '_torch', 'eval');
  const snaps = (await fs.readdir(evalDir).catch(() => [] as string[]))
    .map((f) => ({ f, m: /^step-(\d+)\.safetensors$/.exec(f) }))
    .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
    .map(({ f, m }) => ({ step: Number(m[1]), file: path.join(evalDir, f) }))
    .filter((s) => s.step <= plan.steps)
    .sort((a, b) => a.step - b.step);
  return {
    params: paramsOf(tf, ckpt.tensors.model),
    ema: paramsOf(tf, ckpt.tensors.ema),
    metrics: ckpt.state.metrics,
    evalSnapshots: snaps,
  };
}

/** Loads one evaluation snapshot as parameters. */
export async function loadSnapshot(tf: Tf, file: string): Promise<Params> {
  return paramsOf(tf, (await readSafetensors(file)).tensors);
}

function paramsOf(tf: Tf, tensors: Map<string, NamedArray>): Params {
  return new Map([...tensors].map(([k, t]) => [k, tf.variable(tf.tensor(t.data, t.shape), false)]));
}

async function launch(planFile: string, steps: number, o: TorchLaunch): Promise<void> {
  const argv = launchArgv(o.python, planFile, o.nprocPerNode);
  const inherited = settings().environment;
  o.log(`launching ${argv.join(' ')}`);
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...inherited,
      PYTHONPATH: [path.join(ROOT, 'python'), inherited.PYTHONPATH].filter(Boolean).join(path.delimiter),
      MIRO_NODE: process.execPath,
      OMP_NUM_THREADS: inherited.OMP_NUM_THREADS ?? '1',
      OPENBLAS_NUM_THREADS: inherited.OPENBLAS_NUM_THREADS ?? '1',
    },
  });
  let tail = '';
  const onLine = (line: string) => {
    const m = /step (\d+)\/(\d+) loss ([\d.eE+-]+)/.exec(line);
    if (m) o.progress(Number(m[1]), Number(m[2]), Number(m[3]));
    else if (line.trim()) o.log(line.replace(/^\[torch\] /, 'torch: '));
    tail = (tail + line + '\n').slice(-4000);
  };
  for (const s of [child.stdout, child.stderr]) {
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      lines.forEach(onLine);
    });
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, sig) => resolve(sig ? 128 : c));
  });
  if (code !== 0) {
    const last = tail.trim().split('\n').slice(-6).join('\n');
    throw new StageError(o.node, 0, `the torch trainer exited with ${code} before step ${steps}:\n${last}`);
  }
}
