// `bins`: MIRO's reward binning, in DuckDB (sql/binning.sql). prepare() picks a reproducible
// calibration subset, computes B+1 edges per reward from the quantiles of its distinct values
// (uniform between min and max when there are too few), forces the first and last edges to the
// lowest and highest doubles, and records them in the `bin_edges` table and the node manifest.
// Each shard then assigns `<reward>_bin` and `<reward>_target = bin / (B - 1)`.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { p } from '../dag/params.js';
import { defineStage, type Column, type NodeContext } from './types.js';
import { queryRows, sqlFileList } from '../store/duck.js';
import { SQL_DIR } from '../dag/checks.js';
import { sha256 } from '../util/hash.js';
import type { ColumnRef } from './types.js';

export const LOWEST = -Number.MAX_VALUE;
export const HIGHEST = Number.MAX_VALUE;

export interface BinState {
  num_bins: number;
  calibration: { rows: number; seed: number };
  /** Per reward: B+1 ascending edges, and how they were made. */
  edges: Record<string, { edges: number[]; method: 'quantiles' | 'uniform' | 'empty'; distinct_values: number }>;
}

function sqlSections(): Record<string, string> {
  const text = readFileSync(path.join(SQL_DIR, 'binning.sql'), 'utf8');
  const out: Record<string, string> = {};
  for (const part of text.split(/^-- query: /m).slice(1)) {
    const nl = part.indexOf('\n');
    out[part.slice(0, nl).trim()] = part.slice(nl + 1).trim().replace(/;\s*$/, '');
  }
  return out;
}

function fill(sql: string, vars: Record<string, string | number>): string {
  return sql.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => {
    if (!(k in vars)) throw new Error(`binning.sql: no value for {{${k}}}`);
    return String(vars[k]);
  });
}

/** A double as a SQL literal that round-trips exactly. */
const lit = (x: number) => `${x.toPrecision(17)}::DOUBLE`;

/** Binary search: the number of edges strictly below `x` (0 .. edges.length). */
export function bucketizeSql(x: string, edges: number[]): string {
  const go = (lo: number, hi: number): string => {
    if (lo === hi) return String(lo);
    const mid = (lo + hi + 1) >> 1;
    return `CASE WHEN ${x} > ${lit(edges[mid - 1]!)} THEN ${go(mid, hi)} ELSE ${go(lo, mid - 1)} END`;
  };
  return go(0, edges.length);
}

/** The bin index; NULL for a NULL score (a CASE would otherwise send NULL down its ELSE arm). */
export function binSql(x: string, edges: number[], numBins: number): string {
  return `CASE WHEN (${x}) IS NULL THEN NULL ELSE least(${numBins - 1}, greatest(0, ${bucketizeSql(x, edges)} - 1)) END`;
}

export const bins = defineStage({
  kind: 'bins',
  version: 1,
  doc: 'Reward scores to bins and targets in [0, 1], with edges from a calibration subset.',
  mode: 'map',
  params: {
    rewards: p.record(p.column({ doc: 'score column' }), { doc: 'reward name -> the score column it bins, e.g. aesthetic: score_aesthetic.score' }),
    num_bins: p.int({ doc: 'B, bins per reward (the paper: 64; its predecessor CAD: 8)', min: 2, default: 64 }),
    calibration_size: p.int({ doc: 'rows the edges are computed from (the official code: 100k random samples)', min: 1, default: 100_000 }),
    calibration_seed: p.int({ doc: 'seed that picks the calibration rows', default: 42 }),
  },
  needs: { min: 1 },
  rowsCanFail: false,
  columns: (params) => Object.keys(params.rewards).flatMap((r): Column[] => [
    { name: `${r}_bin`, type: 'INTEGER' },
    { name: `${r}_target`, type: 'DOUBLE' },
  ]),
  reads: (params) => Object.values(params.rewards),
  identity: () => ({ sql: sha256(readFileSync(path.join(SQL_DIR, 'binning.sql'), 'utf8')) }),

  async prepare(ctx): Promise<BinState> {
    const q = sqlSections();
    const { num_bins: B, calibration_size, calibration_seed } = ctx.params;
    const refs = Object.entries(ctx.params.rewards);
    const primary = refs[0]![1].node;
    await ctx.duck.run(fill(q.calibration!, { primary_files: sqlFileList(ctx.inputs.files(primary)), seed: calibration_seed, calibration_size }));
    const calRows = Number((await queryRows(ctx.duck, 'SELECT count(*) AS n FROM calibration'))[0]!.n);
    const state: BinState = { num_bins: B, calibration: { rows: calRows, seed: calibration_seed }, edges: {} };
    const probs = `[${Array.from({ length: B + 1 }, (_, i) => lit(i / B)).join(', ')}]`;
    const tableRows: { reward: string; bin: number; lower: number; upper: number; population: number; distinct_values: number }[] = [];

    for (const [reward, ref] of refs) {
      await ctx.duck.run(fill(q.calibration_values!, { column: `"${ref.column}"`, files: sqlFileList(ctx.inputs.files(ref.node)) }));
      const c = (await queryRows(ctx.duck, fill(q.edge_candidates!, { probs })))[0]!;
      const distinct = Number(c.distinct_values);
      let edges: number[];
      let method: BinState['edges'][string]['method'];
      if (distinct >= B + 1) {
        edges = (c.q as number[]).slice();
        method = 'quantiles';
      } else if (distinct > 0) {
        const lo = Number(c.lo);
        const hi = Number(c.hi);
        edges = Array.from({ length: B + 1 }, (_, i) => lo + ((hi - lo) * i) / B);
        method = 'uniform';
      } else {
        edges = Array.from({ length: B + 1 }, (_, i) => i / B);
        method = 'empty';
      }
      edges[0] = LOWEST;
      edges[B] = HIGHEST;
      state.edges[reward] = { edges, method, distinct_values: distinct };
      const pops = await queryRows(ctx.duck, fill(q.populations!, { max_bin: B - 1, bucketize: bucketizeSql('v', edges) }));
      const popOf = new Map(pops.map((r) => [Number(r.bin), Number(r.population)]));
      for (let b = 0; b < B; b++) tableRows.push({ reward, bin: b, lower: edges[b]!, upper: edges[b + 1]!, population: popOf.get(b) ?? 0, distinct_values: distinct });
      ctx.log(`${reward}: ${method} edges from ${distinct} distinct values`);
    }
    await writeEdges(ctx, tableRows);
    return state;
  },

  query(ctx) {
    const q = sqlSections();
    const state = ctx.state as BinState;
    const B = state.num_bins;
    const refs = Object.entries(ctx.params.rewards);
    const nodes = [...new Set(refs.map(([, r]) => r.node))];
    const alias = (ref: ColumnRef) => `t${nodes.indexOf(ref.node)}`;
    const joins = nodes
      .slice(1)
      .map((n, i) => ` LEFT JOIN read_parquet(${sqlFileList(ctx.inputs.files(n))}) t${i + 1} ON t${i + 1}.id = t0.id`)
      .join('');
    const columns = refs
      .map(([reward, ref]) => {
        const v = `CASE WHEN ${alias(ref)}.status = 'ok' THEN ${alias(ref)}."${ref.column}" END`;
        return `, ${binSql(v, state.edges[reward]!.edges, B)} AS "${reward}_bin"`;
      })
      .join('');
    const targets = refs.map(([reward]) => `, "${reward}_bin", "${reward}_bin" / ${B - 1}::DOUBLE AS "${reward}_target"`).join('');
    return fill(q.assign!, { primary_files: sqlFileList(ctx.inputs.files(nodes[0]!)), columns, joins, targets });
  },
});

async function writeEdges(ctx: NodeContext<unknown>, rows: { reward: string; bin: number; lower: number; upper: number; population: number; distinct_values: number }[]): Promise<void> {
  await ctx.writeTable(
    'bin_edges',
    [
      { name: 'reward', type: 'VARCHAR' },
      { name: 'bin', type: 'INTEGER' },
      { name: 'lower', type: 'DOUBLE' },
      { name: 'upper', type: 'DOUBLE' },
      { name: 'population', type: 'BIGINT' },
      { name: 'distinct_values', type: 'BIGINT' },
    ],
    [
      {
        rows: rows.length,
        columns: {
          reward: rows.map((r) => r.reward),
          bin: Int32Array.from(rows, (r) => r.bin),
          lower: Float64Array.from(rows, (r) => r.lower),
          upper: Float64Array.from(rows, (r) => r.upper),
          population: rows.map((r) => r.population),
          distinct_values: rows.map((r) => r.distinct_values),
        },
      },
    ],
  );
}

/** The same binning in JavaScript (for scoring generated samples and for `miro verify`). */
export function binOf(score: number | null, edges: number[], numBins: number): number | null {
  if (score === null || Number.isNaN(score)) return null;
  let lo = 0;
  let hi = edges.length; // count of edges strictly below score, by binary search
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid]! < score) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(numBins - 1, Math.max(0, lo - 1));
}
