// Rank and world from a Slurm job array or a Kubernetes Indexed Job when no flag names them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankAndWorld } from '../src/cli/scheduler.ts';

test('rank and world: flags, Slurm array variables, Kubernetes completion index, and clear errors', () => {
  assert.deepEqual(rankAndWorld({}, {}), { rank: 0, world: 1, source: 'defaults' });
  const slurm = { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' };
  assert.deepEqual(rankAndWorld({}, slurm), { rank: 2, world: 4, source: 'SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT' });
  // An array numbered 1-4: ranks count from the array's first id.
  assert.equal(rankAndWorld({}, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '4' }).rank, 0);
  // Flags win.
  assert.deepEqual(rankAndWorld({ rank: 1, world: 2 }, slurm), { rank: 1, world: 2, source: '--rank, --world' });
  assert.throws(
    () => rankAndWorld({}, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '5' }),
    /task ids 0-5 are not contiguous \(3 tasks\)/,
  );
  assert.throws(() => rankAndWorld({}, { SLURM_ARRAY_TASK_ID: '1' }), /neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX/);
  assert.deepEqual(rankAndWorld({}, { JOB_COMPLETION_INDEX: '3', MIRO_WORLD: '8' }), {
    rank: 3,
    world: 8,
    source: 'JOB_COMPLETION_INDEX, MIRO_WORLD',
  });
  assert.deepEqual(rankAndWorld({ world: 4 }, { JOB_COMPLETION_INDEX: '3' }), {
    rank: 3,
    world: 4,
    source: '--world, JOB_COMPLETION_INDEX',
  });
  assert.throws(() => rankAndWorld({}, { JOB_COMPLETION_INDEX: '3' }), /set MIRO_WORLD to the Job's completions/);
  assert.throws(
    () => rankAndWorld({ world: 2 }, { JOB_COMPLETION_INDEX: '3' }),
    /rank 3 is not below world 2 \(from --world, JOB_COMPLETION_INDEX\)/,
  );
  assert.throws(
    () => rankAndWorld({}, { SLURM_ARRAY_TASK_ID: 'x', SLURM_ARRAY_TASK_COUNT: '2' }),
    /SLURM_ARRAY_TASK_ID=x: expected a non-negative integer/,
  );
});
