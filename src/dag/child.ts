// CPU-bound nodes (training, sampling) run in a child process, so two of them use two cores.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Pipeline, NodeSpec } from './pipeline.js';
import type { NodePlan, PlanOptions } from './planner.js';
import type { NodeOutcome } from './outcome.js';
import { StageError } from '../errors.js';
import type { ProgressSink } from '../util/progress.js';

/**
 * Runs one node as `miro run --only NODE` in a child process, so CPU-bound nodes use separate
 * cores. The child takes the same locks and writes the same markers; its log lines pass through.
 */
export async function runInChild(
  pipeline: Pipeline,
  spec: NodeSpec,
  plan: NodePlan,
  env: { rank: number; world: number; progress: ProgressSink },
  opts: PlanOptions & { waitTimeoutMs?: number },
): Promise<NodeOutcome> {
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/miro.js');
  const args = [
    bin,
    'run',
    pipeline.file,
    '--only',
    spec.name,
    '--data-root',
    pipeline.settings.dataRoot,
    '--rank',
    String(env.rank),
    '--world',
    String(env.world),
    '--jobs',
    '1',
  ];
  for (const n of opts.force ?? []) if (n === spec.name) args.push('--force', n);
  for (const n of opts.from ?? []) args.push('--from', n);
  for (const n of opts.retryFailed ?? []) if (n === spec.name) args.push('--retry-failed', n);
  if (opts.waitTimeoutMs !== undefined) args.push('--wait-timeout', String(opts.waitTimeoutMs / 1000));
  const child = spawn(process.execPath, args, { env: { ...process.env, MIRO_CHILD: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
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
