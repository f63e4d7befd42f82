// The SQL checks catch broken output: a map node whose ids no longer line up with its input's,
// a source with a duplicate id, and a target outside [0, 1]. Each failure names the check and
// shows the offending rows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadPipeline } from '../src/dag/pipeline.ts';
import { layoutOf } from '../src/store/layout.ts';
import { runChecks } from '../src/dag/checks.ts';
import { readMarkers } from '../src/store/markers.ts';
import { runPipeline } from '../src/dag/runner.ts';
import { Progress } from '../src/util/progress.ts';
import { tmpDir, writePipeline } from './helpers.ts';
import { configure } from '../src/util/settings.ts';

const YAML = `name: checked
settings: {shards: 2, seed: 3}
nodes:
  base: {uses: rows, with: {count: 400}}
  score:
    uses: derive
    needs: [base]
    with: {columns: {score: {sql: "value * 10"}, status: {sql: "'ok'", type: VARCHAR}}}
  bins:
    uses: bins
    needs: [score]
    with: {num_bins: 4, rewards: {s: score.score}}
`;

/** Rewrites one committed shard through SQL over its own rows (`t`), as a broken writer might. */
async function tamper(file: string, select: string): Promise<void> {
  const conn = await (await DuckDBInstance.create(':memory:')).connect();
  await conn.run(`CREATE TABLE t AS SELECT * FROM read_parquet('${file}')`);
  await conn.run(`COPY (${select}) TO '${file}' (FORMAT parquet)`);
  conn.closeSync();
}

async function checksOf(file: string, node: string): Promise<void> {
  const pipeline = loadPipeline(file);
  const layout = layoutOf(pipeline, node);
  rmSync(path.join(layout.dir, '_checks.json'), { force: true }); // passed checks are remembered
  await runChecks(pipeline, pipeline.nodes.get(node)!, layout, await readMarkers(layout));
}

test('checks fail on misaligned map ids, duplicate source ids and targets outside [0, 1], naming the rows', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'checked', YAML);
  configure({ dataRoot: path.join(dir, 'data') });
  try {
    await runPipeline(loadPipeline(file), { progress: new Progress(process.stderr, false, true) });
    for (const node of ['base', 'score', 'bins']) await checksOf(file, node); // all pass as written
    const shard = (node: string, s: number) => layoutOf(loadPipeline(file), node).shardFile(s);

    await tamper(
      shard('bins', 0),
      `SELECT * REPLACE (CASE WHEN id = (SELECT max(id) FROM t) THEN 1.5 ELSE s_target END AS s_target) FROM t ORDER BY id`,
    );
    await assert.rejects(
      checksOf(file, 'bins'),
      /check targets_in_unit_interval_or_null failed[\s\S]*"stat":"highest s_target","value":1\.5/,
    );

    await tamper(
      shard('score', 1),
      `SELECT * REPLACE (CASE WHEN id = (SELECT min(id) FROM t) THEN 'r-stranger' ELSE id END AS id) FROM t ORDER BY id`,
    );
    await assert.rejects(checksOf(file, 'score'), /check ids_equal_input_ids_in_order failed[\s\S]*r-stranger/);

    await tamper(shard('base', 0), `SELECT * FROM t UNION ALL (SELECT * FROM t ORDER BY id LIMIT 1) ORDER BY id`);
    await assert.rejects(checksOf(file, 'base'), /check ids_unique failed[\s\S]*"copies":2/);
  } finally {
    configure({ dataRoot: undefined });
  }
});
