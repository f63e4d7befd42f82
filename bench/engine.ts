// Engine figures: ingest throughput, no-op re-run of a big completed pipeline (only markers are
// read), the engine's overhead per shard with a stage that does nothing.

import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { loadPipeline } from '../src/dag/pipeline.ts';
import { runPipeline } from '../src/dag/runner.ts';
import { planPipeline } from '../src/dag/planner.ts';
import { sha256File } from '../src/util/hash.ts';
import { Progress } from '../src/util/progress.ts';
import { writeImageFolder, BIN } from '../test/helpers.ts';
import { benchDir, report, timed } from './util.ts';

const quiet = new Progress(process.stderr, false, true);
const dir = benchDir('engine');

// 1. Ingest 10,000 small images.
const images = path.join(dir, 'images');
await writeImageFolder(images, 10_000, 32);
const ingestFile = path.join(dir, 'ingest.yaml');
writeFileSync(
  ingestFile,
  `name: ingest\nsettings: {shards: 8, data_root: ${JSON.stringify(path.join(dir, 'data'))}}\nnodes:\n  ingest: {uses: ingest, with: {path: ${JSON.stringify(images)}}}\n`,
);
const ingest = await timed(() => runPipeline(loadPipeline(ingestFile), { progress: quiet }));
report('engine.ingest_rows_per_s', 10_000 / ingest.secs, 'rows/s');

// 2. 10 nodes x 1,000 shards: a trivial source and nine trivial map nodes.
const SHARDS = Number(process.env.BENCH_SHARDS ?? 1000);
const nodes = [`  n0: {uses: rows, with: {count: ${SHARDS}}}`];
for (let i = 1; i < 10; i++) nodes.push(`  n${i}: {uses: derive, needs: [n${i - 1}], with: {columns: {value: {sql: "value + 1"}}}}`);
const bigFile = path.join(dir, 'big.yaml');
writeFileSync(
  bigFile,
  `name: big\nsettings: {shards: ${SHARDS}, data_root: ${JSON.stringify(path.join(dir, 'data'))}}\nnodes:\n${nodes.join('\n')}\n`,
);
const first = await timed(() => runPipeline(loadPipeline(bigFile), { progress: quiet, jobs: 1 }));
report('engine.overhead_per_shard', (first.secs * 1000) / (10 * SHARDS), 'ms');

const noop = await timed(() => runPipeline(loadPipeline(bigFile), { progress: quiet }));
const ran = noop.value.outcomes.filter((o) => o.status !== 'skipped').length;
if (ran !== 0) throw new Error(`no-op re-run ran ${ran} nodes`);
report('engine.noop_rerun_10x1000', noop.secs, 's');
const cli = spawnSync(process.execPath, [BIN, 'run', bigFile], { encoding: 'utf8' });
if (cli.status !== 0) throw new Error(cli.stderr);
const t0 = performance.now();
spawnSync(process.execPath, [BIN, 'run', bigFile], { encoding: 'utf8' });
report('engine.noop_rerun_10x1000_cli', (performance.now() - t0) / 1000, 's');

// 4. Integrity: `status --verify` re-hashes every committed part against its marker. Its cost is
// the hashing rate (on a 512 MB part) plus a fixed cost per part (on the 10 x 1,000 pipeline); the
// size check every run makes costs one stat per part.
const part = path.join(dir, 'big-part.parquet');
writeFileSync(part, Buffer.alloc(512 * 1024 * 1024, 7));
const hash = await timed(() => sha256File(part));
report('engine.verify_hash_s_per_gb', hash.secs / 0.512 / 1.024 / 1.024, 's/GB');
const big = loadPipeline(bigFile);
const verify = await timed(() => planPipeline(big, { verify: true }));
const sizesOnly = await timed(() => planPipeline(big));
report('engine.verify_10x1000_s', verify.secs, 's');
report('engine.plan_with_size_check_10x1000_s', sizesOnly.secs, 's');
