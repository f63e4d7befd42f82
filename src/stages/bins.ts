// `bins`: MIRO's reward binning, in DuckDB (sql/binning.sql). prepare() picks a reproducible
// calibration subset, computes B+1 edges per reward from the quantiles of its distinct values
// (uniform between min and max when there are too few), forces the first and last edges to the
// lowest and highest doubles, and records them in the `bin_edges` table and the node manifest.
// Each shard then assigns `<reward>_bin` and `<reward>_target = bin / (B - 1)`: inputs joined by
// position when their shards line up (by id otherwise), bins from the JavaScript search that
// src/binning/ registers as a DuckDB function. README "How `bins` is fast" has the measurements.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { p } from './params.js';
import { defineStage, FALLBACK_SIGNAL, type Column, type NodeContext, type ShardQuery } from './types.js';
import { queryRows, sqlDouble, sqlFileList, sqlString } from '../store/duck.js';
import type { BinState } from '../store/markers.js';
import { SQL_DIR } from '../util/sql-file.js';
import { sha256 } from '../util/hash.js';
import { sqlSections } from '../util/sql-file.js';
import type { ColumnRef, Value } from './types.js';
import { EdgeSearch } from '../binning/search.js';
import { binColumns } from '../binning/duckdb-function.js';

export const LOWEST = -Number.MAX_VALUE;
export const HIGHEST = Number.MAX_VALUE;

function binningSql(): Record<string, string> {
  return Object.fromEntries(sqlSections(path.join(SQL_DIR, 'binning.sql'), 'query').map((q) => [q.name, q.sql]));
}

function fill(sql: string, vars: Record<string, string | number>): string {
  return sql.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => {
    if (!(k in vars)) throw new Error(`binning.sql: no value for {{${k}}}`);
    return String(vars[k]);
  });
}

const selectList = (items: string[]) => items.map((x) => `, ${x}`).join('');

export const bins = defineStage({
  kind: 'bins',
  version: 2,
  doc: 'Reward scores to bins and targets in [0, 1], with edges from a calibration subset.',
  mode: 'map',
  params: {
    rewards: p.record(p.column({ doc: 'score column' }), {
      doc: 'reward name -> the score column it bins, e.g. aesthetic: score_aesthetic.score',
    }),
    num_bins: p.int({ doc: 'B, bins per reward (the paper: 64; its predecessor CAD: 8)', min: 2, default: 64 }),
    calibration_size: p.int({ doc: 'rows the edges are computed from (the official code: 100k random samples)', min: 1, default: 100_000 }),
    calibration_seed: p.int({ doc: 'seed that picks the calibration rows', default: 42 }),
  },
  needs: { min: 1 },
  rowsCanFail: false,
  columns: (params) =>
    Object.keys(params.rewards).flatMap((r): Column[] => [
      { name: `${r}_bin`, type: 'INTEGER' },
      { name: `${r}_target`, type: 'DOUBLE' },
    ]),
  // Reward names become column names (<reward>_bin), view columns and path parts of releases.
  validate: (params) => {
    const bad = Object.keys(params.rewards).find((r) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(r));
    return bad === undefined ? null : `rewards: "${bad}" is not a reward name (letters, digits and _, not starting with a digit)`;
  },
  reads: (params) => Object.values(params.rewards),
  identity: () => ({ sql: sha256(readFileSync(path.join(SQL_DIR, 'binning.sql'), 'utf8')) }),

  async prepare(ctx): Promise<BinState> {
    const q = binningSql();
    const { num_bins: B, calibration_size, calibration_seed } = ctx.params;
    const refs = Object.entries(ctx.params.rewards);
    const primary = refs[0]![1].node;
    await ctx.duck.run(
      fill(q.calibration!, { primary_files: sqlFileList(ctx.inputs.files(primary)), seed: calibration_seed, calibration_size }),
    );
    const calRows = Number((await queryRows(ctx.duck, 'SELECT count(*) AS n FROM calibration'))[0]!.n);
    const state: BinState = { num_bins: B, calibration: { rows: calRows, seed: calibration_seed }, edges: {} };
    const probs = `[${Array.from({ length: B + 1 }, (_, i) => sqlDouble(i / B)).join(', ')}]`;

    const eachReward = (section: string, vars: (reward: string, ref: ColumnRef) => Record<string, string>) =>
      refs.map(([reward, ref]) => fill(section, { reward: sqlString(reward), ...vars(reward, ref) })).join('\nUNION ALL\n');
    await ctx.duck.run(
      fill(q.calibration_values!, {
        each_reward: eachReward(q.calibration_values_of!, (_reward, ref) => ({
          column: `"${ref.column}"`,
          files: sqlFileList(ctx.inputs.files(ref.node)),
        })),
      }),
    );
    const candidates = new Map((await queryRows(ctx.duck, fill(q.edge_candidates!, { probs }))).map((c) => [String(c.reward), c]));
    for (const [reward] of refs) {
      state.edges[reward] = edgesFrom(candidates.get(reward), B);
      ctx.log(`${reward}: ${state.edges[reward]!.method} edges from ${state.edges[reward]!.distinct_values} distinct values`);
    }

    const perReward = eachReward(q.population_bins_of!, (reward) => {
      const calls = binColumns(ctx.duck, [new EdgeSearch(state.edges[reward]!.edges, B)], ['v'], '_bins');
      return { packed: calls.packed.join(', '), bin: calls.bins[0]! };
    });
    const population = new Map(
      (await queryRows(ctx.duck, fill(q.populations!, { each_reward: perReward }))).map((r) => [
        `${r.reward}:${r.bin}`,
        Number(r.population),
      ]),
    );
    const tableRows = refs.flatMap(([reward]) => {
      const { edges, distinct_values } = state.edges[reward]!;
      return Array.from({ length: B }, (_, b) => ({
        reward,
        bin: b,
        lower: edges[b]!,
        upper: edges[b + 1]!,
        population: population.get(`${reward}:${b}`) ?? 0,
        distinct_values,
      }));
    });
    await writeEdges(ctx, tableRows);
    return state;
  },

  // Shards join by position (one DuckDB thread each), so several run at once.
  concurrentShards: true,

  query(ctx): ShardQuery {
    const q = binningSql();
    const state = ctx.state as BinState;
    const B = state.num_bins;
    const refs = Object.entries(ctx.params.rewards);
    const nodes = [...new Set(refs.map(([, r]) => r.node))];
    const alias = (ref: ColumnRef) => `t${nodes.indexOf(ref.node)}`;
    const scores = refs.map(([, ref]) => `CASE WHEN ${alias(ref)}.status = 'ok' THEN ${alias(ref)}."${ref.column}" END`);
    const calls = binColumns(
      ctx.duck,
      refs.map(([reward]) => new EdgeSearch(state.edges[reward]!.edges, B)),
      scores,
      '_bins',
    );
    const others = nodes.slice(1).map((n, i) => ({ files: sqlFileList(ctx.inputs.files(n)), alias: `t${i + 1}` }));
    const vars = {
      primary_files: sqlFileList(ctx.inputs.files(nodes[0]!)),
      packed: selectList(calls.packed),
      bins: selectList(refs.map(([reward], i) => `${calls.bins[i]} AS "${reward}_bin"`)),
      targets: selectList(refs.flatMap(([reward]) => [`"${reward}_bin"`, `"${reward}_bin" / ${B - 1}::DOUBLE AS "${reward}_target"`])),
      fallback_signal: FALLBACK_SIGNAL,
    };
    return {
      sql: fill(q.assign_aligned!, {
        ...vars,
        positional_joins: others.map((o) => ` POSITIONAL JOIN read_parquet(${o.files}) ${o.alias}`).join(''),
        aligned: others.map((o) => `${o.alias}.id = t0.id`).join(' AND ') || 'true',
      }),
      orderedById: true,
      fallback: {
        sql: fill(q.assign_joined!, {
          ...vars,
          joins: others.map((o) => ` LEFT JOIN read_parquet(${o.files}) ${o.alias} ON ${o.alias}.id = t0.id`).join(''),
        }),
      },
    };
  },
});

/** A reward's B+1 edges: its quantiles, or uniform between min and max when it has too few distinct values. */
function edgesFrom(candidate: Record<string, Value> | undefined, B: number): BinState['edges'][string] {
  const distinct = Number(candidate?.distinct_values ?? 0);
  let edges: number[];
  let method: BinState['edges'][string]['method'];
  if (distinct >= B + 1) {
    edges = (candidate!.q as number[]).slice();
    method = 'quantiles';
  } else if (distinct > 0) {
    const lo = Number(candidate!.lo);
    const hi = Number(candidate!.hi);
    edges = Array.from({ length: B + 1 }, (_, i) => lo + ((hi - lo) * i) / B);
    method = 'uniform';
  } else {
    edges = Array.from({ length: B + 1 }, (_, i) => i / B);
    method = 'empty';
  }
  edges[0] = LOWEST;
  edges[B] = HIGHEST;
  return { edges, method, distinct_values: distinct };
}

async function writeEdges(
  ctx: NodeContext<unknown>,
  rows: { reward: string; bin: number; lower: number; upper: number; population: number; distinct_values: number }[],
): Promise<void> {
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
