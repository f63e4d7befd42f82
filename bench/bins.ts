// Binning throughput: the `bins` node over 1M and 10M rows x 7 rewards (scores made by SQL
// `derive` nodes first, untimed). Target: at most 2 s per million rows for all seven rewards.

import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadPipeline } from '../src/dag/pipeline.ts';
import { runPipeline } from '../src/dag/runner.ts';
import { Progress } from '../src/util/progress.ts';
import { benchDir, report, timed } from './util.ts';

const REWARDS = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
const quiet = new Progress(process.stderr, false, true);
const sizes = (process.env.BENCH_BIN_ROWS ?? '1000000,10000000').split(',').map(Number);

for (const rows of sizes) {
  const dir = benchDir('bins');
  const scores = REWARDS.map(
    (r, i) =>
      `  score_${r}:\n    uses: derive\n    needs: [base]\n    with: {columns: {score: {sql: "hash(id || '${i}') % 100000 / 1000.0"}, status: {sql: "'ok'", type: VARCHAR}}}`,
  );
  const file = path.join(dir, 'bins.yaml');
  writeFileSync(
    file,
    `name: bins\nsettings: {shards: 8, data_root: ${JSON.stringify(dir)}}\nnodes:\n  base: {uses: rows, with: {count: ${rows}}}\n${scores.join('\n')}\n  bins:\n    uses: bins\n    needs: [${REWARDS.map((r) => `score_${r}`).join(', ')}]\n    with:\n      num_bins: 64\n      rewards: {${REWARDS.map((r) => `${r}: score_${r}.score`).join(', ')}}\n`,
  );
  const pipeline = loadPipeline(file);
  await runPipeline(pipeline, { progress: quiet, only: ['base', ...REWARDS.map((r) => `score_${r}`)] });
  const { secs } = await timed(() => runPipeline(pipeline, { progress: quiet, only: ['bins'] }));
  const label = rows >= 1e6 ? `${rows / 1e6}M` : String(rows);
  report(`bins.${label}_rows_7_rewards`, secs, 's');
  report(`bins.${label}_s_per_million_rows`, secs / (rows / 1e6), 's');
}
