// CPU-bound nodes (training, sampling) run in a child process, so two of them use two cores.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Pipeline, NodeSpec } from './pipeline.js';
import type { NodePlan } from './planner.js';
import type { RunOptions } from './run-options.js';
import type { NodeOutcome } from './outcome.js';
import { StageError } from '../errors.js';
import type { ProgressSink } from '../util/progress.js';

/** What a child process is handed: the run's options for its one node, and the data root. */
export interface ChildRunOptions {
  dataRoot: string;
  set: string[];
  run: Omit<RunOptions, 'progress' | 'dryRun'>;
}

/**
 * Runs one node as `miro run --only NODE` in a child process, so CPU-bound nodes use separate
 * cores. The child takes the same locks and writes the same markers; its log lines pass through.
 */
export async function runInChild(
  pipeline: Pipeline,
  spec: NodeSpec,
  plan: NodePlan,
  env: { rank: number; world: number; progress: ProgressSink },
  opts: RunOptions,
): Promise<NodeOutcome> {
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/miro.js');
  const childOptions: ChildRunOptions = {
    dataRoot: pipeline.settings.dataRoot,
    set: pipeline.overrides,
    run: {
      only: [spec.name],
      from: opts.from,
      force: opts.force?.filter((n) => n === spec.name),
      retryFailed: opts.retryFailed?.filter((n) => n === spec.name),
      verify: opts.verify,
      rank: env.rank,
      world: env.world,
      jobs: 1,
      waitTimeoutMs: opts.waitTimeoutMs,
      lockLeaseMs: opts.lockLeaseMs,
      inChild: true,
    },
  };
  // The options travel whole, as JSON, so none is lost by re-spelling it as a flag.
  const args = [bin, 'run', pipeline.file, '--child-options', JSON.stringify(childOptions)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  const lines = createInterface({ input: child.stderr! });
  lines.on('line', (line) => {
    tail = `${tail}\n${line}`.slice(-4000);
    if (!line.startsWith('done:')) env.progress.log(line);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code === 0) return { node: spec.name, status: 'ran', reason: plan.reason, shardsRun: plan.todo.size };
  return {
    node: spec.name,
    status: 'failed',
    reason: plan.reason,
    shardsRun: 0,
    error: new StageError(spec.name, undefined, `child process exited with ${code}: ${tail.trim().split('\n').slice(-3).join(' | ')}`),
  };
}
