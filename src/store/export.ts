// Query results written by DuckDB itself (COPY), so every value round-trips: doubles in
// shortest exact form, BIGINT and HUGEINT exact, a header even with no rows. CSV has no nested
// types, so lists, structs and maps become JSON text first.

import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows, sqlString } from './duck.js';

export type ExportFormat = 'csv' | 'json' | 'ndjson' | 'parquet';

/** COPY the query to `file`; for CSV, nested values (lists, structs, maps) become JSON text first. */
export async function exportQuery(conn: DuckDBConnection, query: string, format: ExportFormat, file: string): Promise<void> {
  let select = query;
  if (format === 'csv') {
    const cols = await queryRows(conn, `DESCRIBE (${query}\n)`);
    const nested = cols.filter((c) => /[[\]]|^(STRUCT|MAP|UNION)\b/.test(String(c.column_type))).map((c) => String(c.column_name));
    if (nested.length)
      select = `SELECT * REPLACE (${nested.map((c) => `to_json("${c.replaceAll('"', '""')}")::VARCHAR AS "${c.replaceAll('"', '""')}"`).join(', ')}) FROM (${query}\n)`;
  }
  const options = {
    csv: 'FORMAT csv, HEADER true',
    json: 'FORMAT json, ARRAY true',
    ndjson: 'FORMAT json',
    parquet: 'FORMAT parquet, COMPRESSION zstd',
  }[format];
  await conn.run(`COPY (${select}\n) TO ${sqlString(file)} (${options})`);
}
