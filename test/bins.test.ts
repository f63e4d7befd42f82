// MIRO binning against an independent reference written here: quantiles of distinct values with
// linear interpolation, then bucketize; on random data with ties, NULLs, failed rows and a
// reward with only three distinct values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { killRun, runCli, startCli, tmpDir, writePipeline, sql, snapshot } from './helpers.ts';

const B = 8;
const CAL = 2000;
const SEED = 11;

function yaml(): string {
  const score = (name: string, expr: string) => `  score_${name}:
    uses: derive
    needs: [base]
    with: {columns: {score: {sql: "${expr}"}, status: {sql: "CASE WHEN value > 0.97 THEN 'failed' ELSE 'ok' END", type: VARCHAR}}}`;
  return `name: bintest
settings: {shards: 3, seed: 5}
nodes:
  base:
    uses: rows
    with: {count: 3000}
${score('smooth', 'value * 10 - 3')}
${score('ties', 'CASE WHEN value < 0.1 THEN NULL ELSE round(value * 40) END')}
${score('three', 'floor(value * 3)')}
  bins:
    uses: bins
    needs: [score_smooth, score_ties, score_three]
    with:
      num_bins: ${B}
      calibration_size: ${CAL}
      calibration_seed: ${SEED}
      rewards: {smooth: score_smooth.score, ties: score_ties.score, three: score_three.score}
`;
}

/** numpy/torch 'linear' quantile of a sorted array. */
function quantile(sorted: number[], p: number): number {
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function referenceEdges(values: (number | null)[]): number[] {
  const distinct = [...new Set(values.filter((v): v is number => v !== null))].sort((a, b) => a - b);
  let edges: number[];
  if (distinct.length >= B + 1) edges = Array.from({ length: B + 1 }, (_, i) => quantile(distinct, i / B));
  else edges = Array.from({ length: B + 1 }, (_, i) => distinct[0]! + ((distinct.at(-1)! - distinct[0]!) * i) / B);
  edges[0] = -Number.MAX_VALUE;
  edges[B] = Number.MAX_VALUE;
  return edges;
}

function referenceBin(x: number | null, edges: number[]): number | null {
  if (x === null) return null;
  const below = edges.filter((e) => e < x).length; // torch.bucketize(right=False)
  return Math.min(B - 1, Math.max(0, below - 1));
}

/** The calibration subset as the reference (docs/method.md, section 3) picks it: the CAL rows first by md5(id:seed). */
function calibrationOf<T>(rows: T[], idOf: (row: T) => string): T[] {
  const key = new Map(
    rows.map((r) => [
      r,
      createHash('md5')
        .update(`${idOf(r)}:${SEED}`)
        .digest('hex'),
    ]),
  );
  return [...rows].sort((x, y) => (key.get(x)! < key.get(y)! ? -1 : key.get(x)! > key.get(y)! ? 1 : 0)).slice(0, CAL);
}

test('bins and targets agree exactly with an independent reference; edges to 1e-12', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'bintest', yaml());
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const res = await runCli(['run', file], { env });
  assert.equal(res.code, 0, res.stderr);
  const root = path.join(dir, 'data/bintest');

  const rows = await sql(`SELECT s.id,
      CASE WHEN s.status = 'ok' THEN s.score END AS smooth,
      CASE WHEN t.status = 'ok' THEN t.score END AS ties,
      CASE WHEN h.status = 'ok' THEN h.score END AS three
    FROM read_parquet('${root}/score_smooth/*.parquet') s
    JOIN read_parquet('${root}/score_ties/*.parquet') t USING (id)
    JOIN read_parquet('${root}/score_three/*.parquet') h USING (id)`);
  assert.equal(rows.length, 3000);
  assert.ok(rows.some((r) => r.ties === null) && rows.some((r) => r.smooth === null), 'data has NULLs and failed rows');

  const calibration = calibrationOf(rows, (r) => String(r.id));

  const edgesRows = await sql(
    `SELECT reward, bin, lower, upper, population FROM read_parquet('${root}/bins/_tables/bin_edges/*.parquet') ORDER BY reward, bin`,
  );
  const bins = await sql(`SELECT * FROM read_parquet('${root}/bins/*.parquet') ORDER BY id`);
  const byId = new Map(bins.map((b) => [String(b.id), b]));
  assert.equal(bins.length, 3000);

  for (const reward of ['smooth', 'ties', 'three'] as const) {
    const ref = referenceEdges(calibration.map((r) => r[reward] as number | null));
    const got = edgesRows.filter((e) => e.reward === reward);
    assert.equal(got.length, B);
    for (let b = 0; b < B; b++) {
      assert.ok(
        Math.abs((got[b]!.lower as number) - ref[b]!) <= 1e-12 * Math.max(1, Math.abs(ref[b]!)),
        `${reward} edge ${b}: ${got[b]!.lower} vs ${ref[b]}`,
      );
      assert.ok(Math.abs((got[b]!.upper as number) - ref[b + 1]!) <= 1e-12 * Math.max(1, Math.abs(ref[b + 1]!)));
      const pop = calibration.filter((r) => referenceBin(r[reward] as number | null, ref) === b).length;
      assert.equal(got[b]!.population, pop, `${reward} population of bin ${b}`);
    }
    for (const r of rows) {
      const expectedBin = referenceBin(r[reward] as number | null, ref);
      const out = byId.get(String(r.id))!;
      assert.equal(out[`${reward}_bin`], expectedBin, `${reward} bin of ${r.id} (score ${r[reward]})`);
      assert.equal(out[`${reward}_target`], expectedBin === null ? null : expectedBin / (B - 1));
    }
  }
  // The three-valued reward falls back to uniform edges; NULL and failed scores stay NULL.
  const three = edgesRows.filter((e) => e.reward === 'three').map((e) => e.upper);
  assert.deepEqual(three.slice(0, -1), [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]);
  const nullScores = rows.filter((r) => r.ties === null).length;
  assert.ok(nullScores > 0);
  assert.equal(bins.filter((b) => b.ties_target === null).length, nullScores);
  const manifest = JSON.parse((await snapshot(path.join(root, 'bins'), (r) => r === '_manifest.json')).get('_manifest.json')!.toString());
  assert.equal(manifest.state.num_bins, B);
  assert.equal(manifest.state.edges.three.method, 'uniform');
  assert.equal(manifest.state.edges.smooth.method, 'quantiles');
});

test('the same data and seed give byte-identical bins and bin_edges files', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'bintest', yaml());
  for (const root of ['a', 'b']) assert.equal((await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(dir, root) } })).code, 0);
  const a = await snapshot(path.join(dir, 'a/bintest/bins'));
  const b = await snapshot(path.join(dir, 'b/bintest/bins'));
  assert.equal(a.size, 4);
  for (const [k, v] of a) assert.ok(v.equals(b.get(k)!), `${k} differs`);
});

test('inputs whose shards hold different ids fall back to joining by id, and still bin exactly', async () => {
  const dir = tmpDir();
  // score_b's source has 3 fewer rows, so from shard 0 on its shards hold other ids than score_a's.
  const file = await writePipeline(
    dir,
    'misaligned',
    `name: misaligned
settings: {shards: 3, seed: 5}
nodes:
  base_a: {uses: rows, with: {count: 3000}}
  base_b: {uses: rows, with: {count: 2997}}
  score_a:
    uses: derive
    needs: [base_a]
    with: {columns: {score: {sql: "value * 10"}, status: {sql: "'ok'", type: VARCHAR}}}
  score_b:
    uses: derive
    needs: [base_b]
    with: {columns: {score: {sql: "value * 7"}, status: {sql: "'ok'", type: VARCHAR}}}
  bins:
    uses: bins
    needs: [score_a, score_b]
    with: {num_bins: ${B}, calibration_size: ${CAL}, calibration_seed: ${SEED}, rewards: {a: score_a.score, b: score_b.score}}
`,
  );
  const res = await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(dir, 'data') } });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /shard 0: input shards hold different ids at the same positions; using the fallback query/);
  // Shards 0 and 1 start together and may both find out; shard 2 goes straight to the fallback.
  assert.ok(res.stderr.match(/using the fallback query/g)!.length <= 2);
  const root = path.join(dir, 'data/misaligned');

  const shardOf = async (node: string) => {
    const rows = await sql(
      `SELECT id, score, regexp_extract(filename, 'part-(\\d+)', 1)::INTEGER AS shard FROM read_parquet('${root}/${node}/part-*.parquet', filename = true)`,
    );
    return new Map(rows.map((r) => [String(r.id), r]));
  };
  const a = await shardOf('score_a');
  const b = await shardOf('score_b');
  const calibration = calibrationOf([...a.keys()], (id) => id);
  // Edges: scores of the calibration ids, wherever they are; a shard's bins: its own shard's scores.
  const edgesB = referenceEdges(calibration.map((id) => (b.get(id)?.score as number | undefined) ?? null));
  const bins = await sql(`SELECT id, a_bin, b_bin FROM read_parquet('${root}/bins/part-*.parquet')`);
  assert.equal(bins.length, 3000);
  let missing = 0;
  for (const row of bins) {
    const inA = a.get(String(row.id))!;
    const inB = b.get(String(row.id));
    const sameShard = inB && inB.shard === inA.shard ? (inB.score as number) : null;
    if (sameShard === null) missing++;
    assert.equal(row.b_bin, referenceBin(sameShard, edgesB), `b bin of ${row.id}`);
  }
  assert.ok(missing >= 3 && missing < 10, `${missing} ids without a score in the same shard of score_b`);
});

test('a bins run killed mid-node (two shards in flight) resumes to the same bytes', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'bintest', yaml().replace('shards: 3', 'shards: 40').replace('count: 3000', 'count: 120000'));
  const env = (root: string) => ({ MIRO_DATA_ROOT: path.join(dir, root) });
  assert.equal((await runCli(['run', file], { env: env('clean') })).code, 0);
  assert.equal(
    (
      await runCli(['run', file, '--only', 'base', '--only', 'score_smooth', '--only', 'score_ties', '--only', 'score_three'], {
        env: env('killed'),
      })
    ).code,
    0,
  );

  const { child, done } = startCli(['run', file], { env: env('killed') });
  const markers = path.join(dir, 'killed/bintest/bins/_done');
  // Three shards committed (two run at once, so not necessarily 0, 1 and 2), most still to go.
  const committedNow = () => (existsSync(markers) ? readdirSync(markers).filter((f) => f.endsWith('.json')).length : 0);
  while (committedNow() < 3) await new Promise((r) => setTimeout(r, 2));
  killRun(child);
  await done;
  const committed = readdirSync(markers).length;
  assert.ok(committed >= 3 && committed < 40, `killed mid-node: ${committed} of 40 shards committed`);

  const resumed = await runCli(['run', file], { env: env('killed') });
  assert.equal(resumed.code, 0, resumed.stderr);
  const a = await snapshot(path.join(dir, 'clean/bintest/bins'));
  const b = await snapshot(path.join(dir, 'killed/bintest/bins'));
  assert.equal(a.size, 41);
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [k, v] of a) assert.ok(v.equals(b.get(k)!), `${k} differs after resume`);
});

test('rewards that come from one node bin like the reference too (no join at all)', async () => {
  const dir = tmpDir();
  const file = await writePipeline(
    dir,
    'onenode',
    `name: onenode
settings: {shards: 2, seed: 5}
nodes:
  base: {uses: rows, with: {count: 1500}}
  scores:
    uses: derive
    needs: [base]
    with: {columns: {a: {sql: "value * 10"}, b: {sql: "CASE WHEN value < 0.2 THEN NULL ELSE round(value * 30) END"}, status: {sql: "'ok'", type: VARCHAR}}}
  bins:
    uses: bins
    needs: [scores]
    with: {num_bins: ${B}, calibration_size: ${CAL}, calibration_seed: ${SEED}, rewards: {a: scores.a, b: scores.b}}
`,
  );
  const res = await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(dir, 'data') } });
  assert.equal(res.code, 0, res.stderr);
  const root = path.join(dir, 'data/onenode');
  const rows = await sql(
    `SELECT s.id, s.a, s.b, b.a_bin, b.b_bin FROM read_parquet('${root}/scores/*.parquet') s JOIN read_parquet('${root}/bins/part-*.parquet') b USING (id)`,
  );
  assert.equal(rows.length, 1500);
  const calibration = calibrationOf(rows, (r) => String(r.id));
  for (const r of ['a', 'b'] as const) {
    const edges = referenceEdges(calibration.map((c) => c[r] as number | null));
    for (const row of rows) assert.equal(row[`${r}_bin`], referenceBin(row[r] as number | null, edges), `${r} bin of ${row.id}`);
  }
  assert.ok(rows.some((row) => row.b === null && row.b_bin === null));
});
