// The training stream's memory is bounded by its window, not by the dataset: the TensorFlow.js
// loader (src/train/loader.ts over src/train/stream.ts) reads 400 batches of 64 latent-sized rows
// (8x32x32 float16 latents, 16 KB a row, and 7 targets) from 10k and from 1M rows, 5k rows a
// shard, two shards a window; each size is written by one process and read by another, so the
// peak RSS is the loader's own.
// The latents are written by DuckDB from a repeated md5 (they compress well, so the 1M-row set
// is small on disk; in memory every row is its full 16 KB).
//
//   BENCH loader_10k_examples_per_s, loader_10k_peak_rss, the same for 1m, and their RSS ratio

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDir, report } from './util.js';
import { connect } from '../src/store/duck.js';
import { ShardLoader } from '../src/train/loader.js';
import type { StreamPlan } from '../src/train/stream.js';

const ROWS_PER_SHARD = 5_000;
const BATCH = 64;
const BATCHES = 400;
const REWARDS = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
const SHAPE: [number, number, number] = [8, 32, 32];

/** Writes the shards (in a process of its own, so DuckDB's writing memory is not the loader's). */
async function make(rows: number, dir: string): Promise<void> {
  const conn = await connect();
  const shards = Math.ceil(rows / ROWS_PER_SHARD);
  for (let s = 0; s < shards; s++) {
    const file = path.join(dir, `part-${String(s).padStart(5, '0')}.parquet`);
    await conn.run(
      `COPY (SELECT printf('row-%09d', i) AS id, repeat(md5(i::VARCHAR), 512)::BLOB AS latent_mean, ${REWARDS.map((r, k) => `(hash(i + ${k}) % 64) / 63.0 AS ${r}`).join(', ')}
       FROM range(${s * ROWS_PER_SHARD}, ${Math.min(rows, (s + 1) * ROWS_PER_SHARD)}) t(i)) TO '${file}' (FORMAT parquet, COMPRESSION zstd)`,
    );
  }
}

async function read(rows: number, dir: string): Promise<void> {
  const conn = await connect();
  const shards = Math.ceil(rows / ROWS_PER_SHARD);
  const files = Array.from({ length: shards }, (_, s) => path.join(dir, `part-${String(s).padStart(5, '0')}.parquet`));
  const col = (column: string) => ({ node: 'latents', column, status: false });
  const plan: StreamPlan = {
    seed: 1,
    holdout: 0.01,
    buffer_units: 2,
    driver: 'latent_mean',
    columns: { latent_mean: col('latent_mean'), ...Object.fromEntries(REWARDS.map((r) => [`target_${r}`, col(r)])) },
    units: files.map((f) => ({ latents: [f] })),
    real_caption_ratio: 0.5,
    caption_dropout: 0,
    latent_shape: SHAPE,
    normalization: { mean: Array(8).fill(0), std: Array(8).fill(1), scale: 1 },
  };
  const loader = new ShardLoader(conn, {
    plan,
    rewards: REWARDS,
    batchSize: BATCH,
    imageSize: 32,
    vocab: [],
    maxTokens: 1,
    latents: { shape: SHAPE, normalization: plan.normalization!, embedDim: 8 },
  });
  await loader.open();
  await loader.next(); // the first window, outside the timing
  const t0 = performance.now();
  for (let i = 0; i < BATCHES; i++) await loader.next();
  const secs = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ examples_per_s: (BATCHES * BATCH) / secs, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--make') return make(Number(process.argv[3]), process.argv[4]!);
  if (process.argv[2] === '--read') return read(Number(process.argv[3]), process.argv[4]!);
  const figures: Record<string, { examples_per_s: number; peak_rss_mb: number }> = {};
  for (const [name, rows] of [
    ['10k', 10_000],
    ['1m', 1_000_000],
  ] as const) {
    const dir = benchDir(`loader-${name}`);
    const run = (what: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), what, String(rows), dir], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    if (run('--make').status !== 0) throw new Error(`writing ${name} rows failed`);
    const r = run('--read');
    rmSync(dir, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`loader bench at ${name} rows exited with ${r.status}`);
    const f = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { examples_per_s: number; peak_rss_mb: number };
    figures[name] = f;
    report(`loader_${name}_examples_per_s`, f.examples_per_s, 'examples/s');
    report(`loader_${name}_peak_rss`, f.peak_rss_mb, 'MB');
  }
  report('loader_peak_rss_1m_over_10k', figures['1m']!.peak_rss_mb / figures['10k']!.peak_rss_mb, 'ratio');
}

await main();
