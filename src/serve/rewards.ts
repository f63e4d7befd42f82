// The Rewards page's data, computed in DuckDB over the dataset table: per reward a histogram with
// the bin edges, example ids from the lowest, a middle and the highest bin, and the correlation
// matrix between rewards.

import type { DuckDBConnection } from '@duckdb/node-api';
import type { Pipeline } from '../dag/pipeline.js';
import { layoutOf } from '../store/layout.js';
import { readManifest, type BinState } from '../store/markers.js';
import { queryRows, sqlIdent } from '../store/duck.js';
import type { Dataset } from './dataset.js';

export interface RewardSummary {
  reward: string;
  histogram: { lo: number; hi: number; count: number }[];
  edges: number[];
  examples: { bin: number; ids: string[] }[];
}

const HIST_BINS = 40;

export async function rewardSummaries(
  conn: DuckDBConnection,
  pipeline: Pipeline,
  dataset: Dataset,
): Promise<{ rewards: RewardSummary[]; correlation: { a: string; b: string; r: number | null }[] }> {
  const state = (await readManifest(layoutOf(pipeline, dataset.sources.bins.name)))?.state as BinState | undefined;
  const B = state?.num_bins ?? 0;
  const rewards: RewardSummary[] = [];
  for (const r of dataset.rewards) {
    const score = sqlIdent(`${r}_score`);
    const bin = sqlIdent(`${r}_bin`);
    const [range] = await queryRows(conn, `SELECT min(${score}) AS lo, max(${score}) AS hi FROM dataset WHERE isfinite(${score})`);
    const lo = Number(range?.lo ?? 0);
    const hi = Number(range?.hi ?? 0);
    const width = hi > lo ? (hi - lo) / HIST_BINS : 1;
    const counts = await queryRows(
      conn,
      `SELECT least(${HIST_BINS - 1}, floor((${score} - ${lo}) / ${width}))::INTEGER AS k, count(*)::INTEGER AS n FROM dataset WHERE isfinite(${score}) GROUP BY k ORDER BY k`,
    );
    const byK = new Map(counts.map((c) => [Number(c.k), Number(c.n)]));
    const histogram = Array.from({ length: HIST_BINS }, (_, k) => ({
      lo: lo + k * width,
      hi: lo + (k + 1) * width,
      count: byK.get(k) ?? 0,
    }));
    const examples: { bin: number; ids: string[] }[] = [];
    for (const b of [...new Set([0, Math.floor((B - 1) / 2), B - 1])].filter((b) => b >= 0)) {
      const ids = await queryRows(conn, `SELECT id FROM dataset WHERE ${bin} = ${b} ORDER BY md5(id) LIMIT 6`);
      examples.push({ bin: b, ids: ids.map((x) => String(x.id)) });
    }
    rewards.push({ reward: r, histogram, edges: state?.edges[r]?.edges.slice(1, -1) ?? [], examples });
  }
  const pairs = dataset.rewards.flatMap((a, i) => dataset.rewards.slice(i).map((b) => [a, b] as const));
  const correlation: { a: string; b: string; r: number | null }[] = [];
  if (pairs.length) {
    const [row] = await queryRows(
      conn,
      `SELECT ${pairs.map(([a, b], i) => `corr(${sqlIdent(`${a}_score`)}, ${sqlIdent(`${b}_score`)}) AS c${i}`).join(', ')} FROM dataset`,
    );
    pairs.forEach(([a, b], i) => {
      const v = row?.[`c${i}`];
      const r = v === null || v === undefined || Number.isNaN(Number(v)) ? null : Number(v);
      correlation.push({ a, b, r }, ...(a === b ? [] : [{ a: b, b: a, r }]));
    });
  }
  return { rewards, correlation };
}
