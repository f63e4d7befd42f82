// User-typed SQL cannot do more than it says: a --where filter is one expression, and `miro sql`
// runs one read-only statement that reads only the pipeline's data (unless --unsafe).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { connect } from '../src/store/duck.ts';
import { assertExpression, statementCount } from '../src/store/sql-guard.ts';
import { runCli, tmpDir, writePipeline } from './helpers.ts';

test('statements are counted at top-level semicolons, not in strings, quoted names or comments', () => {
  assert.equal(statementCount('SELECT 1'), 1);
  assert.equal(statementCount('SELECT 1;\n'), 1);
  assert.equal(statementCount('SELECT \';\' AS "a;b" -- c; d\n/* e; f */'), 1);
  assert.equal(statementCount("SELECT 1; COPY (SELECT 1) TO 'x.csv'"), 2);
});

test('a --where filter must be one expression: closing its parenthesis or stacking a statement is refused', async () => {
  const conn = await connect();
  await assertExpression(conn, "objects_score > 0.5 AND status = 'ok'", '--where');
  for (const bad of ['true) OR (true', "true; COPY (SELECT 1) TO '/tmp/x.csv'", 'objects_score >'])
    await assert.rejects(assertExpression(conn, bad, '--where'), /--where .* is not one SQL expression/, bad);
  conn.closeSync();
});

test('miro sql runs one read-only statement over the pipeline data, and --unsafe anything', async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const file = await writePipeline(dir, 'guard', 'name: guard\nsettings: {shards: 2}\nnodes:\n  a: {uses: rows, with: {count: 6}}\n');
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const sql = (q: string, ...flags: string[]) => runCli(['sql', file, q, '--format', 'csv', ...flags], { env });

  assert.equal((await sql('SELECT count(*) AS n FROM a')).stdout.trim(), 'n\n6');
  assert.match((await sql("PIVOT (SELECT 'x' AS k FROM a) ON k USING count(*)")).stdout, /^x\n6$/m);
  const inData = path.join(dir, 'data', 'evil.csv');
  const refused: [string, RegExp][] = [
    [`SELECT 1; COPY (SELECT 1) TO '${path.join(dir, 'evil.csv')}'`, /one statement at a time, got 2/],
    [`COPY (SELECT * FROM a) TO '${inData}'`, /read-only statements/],
    [`ATTACH '${path.join(dir, 'x.db')}'`, /read-only statements/],
    ['INSTALL httpfs', /read-only statements/],
    [`EXPORT DATABASE '${path.join(dir, 'exported')}'`, /read-only statements/],
    ["SELECT * FROM read_csv('/etc/passwd')", /Permission Error/],
  ];
  for (const [q, why] of refused) {
    const res = await sql(q);
    assert.notEqual(res.code, 0, q);
    assert.match(res.stderr, why, q);
  }
  assert.ok(!existsSync(inData) && !existsSync(path.join(dir, 'evil.csv')), 'no file was written');
  assert.ok(!existsSync(path.join(dir, 'exported')), 'a refused EXPORT DATABASE created no folder');
  const unsafe = await sql(`COPY (SELECT * FROM a) TO '${inData}'`, '--unsafe');
  assert.equal(unsafe.code, 0, unsafe.stderr);
  assert.ok(existsSync(inData));
});
