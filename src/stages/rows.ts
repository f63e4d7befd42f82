// `rows`: a source of N rows with seeded random values and no real work. For smoke tests,
// engine benchmarks, and as the smallest example of a stage kind.

import { p } from './params.js';
import { defineStage, sourceShardCount } from './types.js';
import { mulberry32 } from '../util/random.js';

export const rows = defineStage({
  kind: 'rows',
  version: 1,
  doc: 'N rows of (id, value) drawn from the pipeline seed, cut into shards.',
  mode: 'source',
  params: {
    count: p.int({ doc: 'rows in total', min: 0 }),
    shards: p.int({ doc: 'shard count (default: settings.shards)', min: 1, default: 0 }),
  },
  needs: { min: 0, max: 0 },
  rowsCanFail: false,
  columns: () => [{ name: 'value', type: 'DOUBLE' }],
  sourceShards: (params, settings) => sourceShardCount(params.shards, params.count, settings),
  async *run(ctx) {
    const lo = Math.floor((ctx.shard * ctx.params.count) / ctx.shards);
    const hi = Math.floor(((ctx.shard + 1) * ctx.params.count) / ctx.shards);
    const rand = mulberry32(ctx.pipeline.seed * 100_003 + ctx.shard);
    const ids: string[] = [];
    const values = new Float64Array(hi - lo);
    for (let i = lo; i < hi; i++) {
      ids.push(`r${String(i).padStart(9, '0')}`);
      values[i - lo] = rand();
    }
    yield { rows: hi - lo, columns: { id: ids, value: values } };
  },
});
