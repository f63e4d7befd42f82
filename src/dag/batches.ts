// What the runner does to a stage's batches on their way to the store.

import type { NodeSpec } from './pipeline.js';
import type { Batch } from '../stages/types.js';
import { StageError } from '../errors.js';
import type { Stats } from '../util/stats.js';

export async function* concat(...parts: AsyncIterable<Batch>[]): AsyncIterable<Batch> {
  for (const p of parts) yield* p;
}

/** Counts row outcomes into the shard's stats and checks the status column's vocabulary. */
export async function* countRows(spec: NodeSpec, shard: number, batches: AsyncIterable<Batch>, stats: Stats): AsyncIterable<Batch> {
  for await (const b of batches) {
    if (spec.stage.rowsCanFail) {
      const status = b.columns.status as readonly (string | null)[] | undefined;
      if (!status) throw new StageError(spec.name, shard, 'stage returned a batch without a status column');
      for (const s of status) {
        if (typeof s !== 'string' || !/^[a-z][a-z0-9_]*$/.test(s))
          throw new StageError(spec.name, shard, `invalid row status ${JSON.stringify(s)}`);
        stats.row(s);
      }
    } else (stats.inc('total', b.rows), stats.inc('ok', b.rows));
    yield b;
  }
}
