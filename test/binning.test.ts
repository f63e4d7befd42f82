// The JavaScript bucketize behind the `bins` stage: the branch-free search against a plain count,
// and the DuckDB function that packs several rewards' bins per call, against the search.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import { EdgeSearch } from '../src/binning/search.ts';
import { binColumns } from '../src/binning/duckdb-function.ts';
import { mulberry32 } from '../src/util/random.ts';

/** Edges as the stage makes them: ascending, first and last forced to the extreme doubles. */
function randomEdges(numBins: number, rand: () => number): number[] {
  const inner = Array.from({ length: numBins - 1 }, () => Math.round(rand() * 1000) / 10).sort((a, b) => a - b);
  return [-Number.MAX_VALUE, ...inner, Number.MAX_VALUE];
}

/** Scores that land on edges, between them, beyond them, and NaN. */
function probeScores(edges: number[], rand: () => number): number[] {
  const xs = [...edges, -Infinity, Infinity, NaN, 0, -0, -1e300, 1e300];
  for (let i = 0; i < 2000; i++) xs.push(rand() < 0.3 ? edges[Math.floor(rand() * edges.length)]! : rand() * 120 - 10);
  return xs;
}

const countBelow = (x: number, edges: number[]) => edges.filter((e) => e < x).length;

test('the branch-free search counts the edges strictly below a score, for 2 to 3000 bins', () => {
  const rand = mulberry32(7);
  for (const B of [2, 3, 8, 63, 64, 65, 127, 1000, 1024, 3000]) {
    const edges = randomEdges(B, rand);
    const search = new EdgeSearch(edges, B);
    for (const x of probeScores(edges, rand)) {
      if (Number.isNaN(x)) {
        assert.equal(search.bin(x), null);
        continue;
      }
      assert.equal(search.countBelow(x), countBelow(x, edges), `B=${B} x=${x}`);
      assert.equal(search.bin(x), Math.min(B - 1, Math.max(0, countBelow(x, edges) - 1)));
    }
  }
  assert.equal(new EdgeSearch([0, 1, 2], 2).bin(null), null);
});

test('the DuckDB function bins many rewards per call, NULL and NaN stay NULL, through joins', async () => {
  const conn = await (await DuckDBInstance.create(':memory:', { threads: '2' })).connect();
  // 9 rewards: at B=64 two calls (7 + 2 rewards); at B=1000 (10 bits) two calls (5 + 4).
  const rewards = 9;
  await conn.run(`CREATE TABLE a AS SELECT range AS id FROM range(20000)`);
  await conn.run(
    `CREATE TABLE s AS SELECT range AS id, ${Array.from({ length: rewards }, (_, r) => `CASE WHEN hash(range, ${r}) % 17 = 0 THEN NULL WHEN hash(range, ${r}) % 29 = 0 THEN 'NaN'::DOUBLE ELSE (hash(range, ${r}) % 12000) / 100.0 - 10 END AS r${r}`).join(', ')} FROM range(20000) ORDER BY hash(range)`,
  );
  const rand = mulberry32(3);
  for (const B of [64, 1000]) {
    const searches = Array.from({ length: rewards }, () => new EdgeSearch(randomEdges(B, rand), B));
    const calls = binColumns(
      conn,
      searches,
      Array.from({ length: rewards }, (_, r) => `s.r${r}`),
      '_packed',
    );
    assert.equal(calls.packed.length, 2);
    // The join hands the function dictionary vectors; the outer query reads the bins back.
    const reader = await conn.runAndReadAll(
      `SELECT id, ${Array.from({ length: rewards }, (_, r) => `r${r}`).join(', ')}, ${calls.bins.map((b, r) => `${b} AS bin${r}`).join(', ')}
       FROM (SELECT a.id, ${Array.from({ length: rewards }, (_, r) => `s.r${r}`).join(', ')}, ${calls.packed.join(', ')} FROM a LEFT JOIN s USING (id)) ORDER BY id`,
    );
    const rows = reader.getRowObjectsJS();
    assert.equal(rows.length, 20000);
    let nulls = 0;
    for (const row of rows) {
      for (let r = 0; r < rewards; r++) {
        const score = row[`r${r}`] as number | null;
        const expected = searches[r]!.bin(score);
        if (expected === null) nulls++;
        assert.equal(row[`bin${r}`], expected, `B=${B} reward ${r} id ${row.id} score ${score}`);
      }
    }
    assert.ok(nulls > 1000, 'the data has NULL and NaN scores');
  }
  conn.closeSync();
});
