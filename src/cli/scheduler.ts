// Rank and world from the scheduler that started this process, when no flag names them: a Slurm
// job array (SLURM_ARRAY_TASK_ID, with SLURM_ARRAY_TASK_COUNT or the array's min and max) or a
// Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with the world stated in MIRO_WORLD or --world,
// since Kubernetes does not put the completion count in the environment). A flag wins over the
// environment; anything that cannot be a rank of a world is an error that names its source.

import { MiroError } from '../errors.js';

export interface RankWorld {
  rank: number;
  world: number;
  /** Where the numbers came from, for the log. */
  source: string;
}

function int(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new MiroError(`${name}=${v}: expected a non-negative integer`);
  return n;
}

export function rankAndWorld(flags: { rank?: number; world?: number }, env: NodeJS.ProcessEnv = process.env): RankWorld {
  let rank = flags.rank;
  let world = flags.world;
  const from: string[] = [];
  if (rank !== undefined) from.push('--rank');
  if (world !== undefined) from.push('--world');
  const taskId = int(env, 'SLURM_ARRAY_TASK_ID');
  const completion = int(env, 'JOB_COMPLETION_INDEX');
  if (taskId !== undefined) {
    const min = int(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
    const max = int(env, 'SLURM_ARRAY_TASK_MAX');
    const count = int(env, 'SLURM_ARRAY_TASK_COUNT') ?? (max !== undefined ? max - min + 1 : undefined);
    if (count === undefined && world === undefined)
      throw new MiroError('SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX: give --world');
    if (max !== undefined && count !== undefined && max - min + 1 !== count)
      throw new MiroError(
        `the Slurm array's task ids ${min}-${max} are not contiguous (${count} tasks): use --array=0-${count - 1}, or give --rank and --world`,
      );
    if (rank === undefined) {
      rank = taskId - min;
      from.push('SLURM_ARRAY_TASK_ID');
    }
    if (world === undefined) {
      world = count;
      from.push('SLURM_ARRAY_TASK_COUNT');
    }
  } else if (completion !== undefined) {
    const stated = int(env, 'MIRO_WORLD');
    if (world === undefined && stated === undefined)
      throw new MiroError("JOB_COMPLETION_INDEX is set, but the world is not: set MIRO_WORLD to the Job's completions, or give --world");
    if (rank === undefined) {
      rank = completion;
      from.push('JOB_COMPLETION_INDEX');
    }
    if (world === undefined) {
      world = stated;
      from.push('MIRO_WORLD');
    }
  } else if (world === undefined && int(env, 'MIRO_WORLD') !== undefined) {
    world = int(env, 'MIRO_WORLD');
    from.push('MIRO_WORLD');
  }
  rank ??= 0;
  world ??= 1;
  if (world < 1) throw new MiroError(`world ${world} (from ${from.join(', ') || 'defaults'}): must be at least 1`);
  if (rank >= world) throw new MiroError(`rank ${rank} is not below world ${world} (from ${from.join(', ') || 'defaults'})`);
  return { rank, world, source: from.join(', ') || 'defaults' };
}
