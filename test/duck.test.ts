// Values come out of DuckDB exactly: integers past 2^53 stay BigInt, and bound parameters are data.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectIsolated, queryRows } from '../src/store/duck.ts';

test('query rows keep BIGINT and HUGEINT exact: BigInt past 2^53, Number below, and a bound quote, backslash and NUL are data', async () => {
  const conn = await connectIsolated();
  try {
    const [r] = await queryRows(
      conn,
      `SELECT 9007199254740993::BIGINT AS past, (-9223372036854775808)::BIGINT AS lowest, 170141183460469231731687303715884105727::HUGEINT AS huge,
              42::BIGINT AS small, $1 AS text, length($1) AS n`,
      ["it's \\ \0 here"],
    );
    assert.equal(r!.past, 9007199254740993n);
    assert.equal(r!.lowest, -9223372036854775808n);
    assert.equal(r!.huge, 170141183460469231731687303715884105727n);
    assert.equal(r!.small, 42);
    assert.equal(r!.text, "it's \\ \0 here");
    assert.equal(r!.n, 13);
  } finally {
    conn.closeSync();
  }
});
