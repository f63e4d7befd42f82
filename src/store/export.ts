// Query results written by DuckDB itself (COPY), so every value round-trips: doubles in
// shortest exact form, BIGINT and HUGEINT exact, a header even with no rows. CSV has no nested
// types, so lists, structs and maps become JSON text first.

import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows, sqlString } from './duck.js';

export type ExportFormat = 'csv' | 'json' | 'ndjson' | 'parquet';

/**
 * The query with the columns whose DuckDB type matches `type` replaced by `cast(quotedName)`; the
 * query as it is when none match, or when DuckDB cannot describe it (SHOW, SUMMARIZE).
 */
export async function recastColumns(conn: DuckDBConnection, query: string, type: RegExp, cast: (col: string) => string): Promise<string> {
  const cols = await queryRows(conn, `DESCRIBE (${query}\n)`).catch(() => []);
  const hit = cols.filter((c) => type.test(String(c.column_type))).map((c) => `"${String(c.column_name).replaceAll('"', '""')}"`);
  return hit.length ? `SELECT * REPLACE (${hit.map((c) => `${cast(c)} AS ${c}`).join(', ')}) FROM (${query}\n)` : query;
}

/**
 * COPY the query to `file`. For CSV, nested values (lists, structs, maps) become JSON text first;
 * in CSV and JSON, bytes (an image) become base64 text, which every reader decodes, instead of
 * DuckDB's escaped `\x89PNG...`. Parquet keeps them as bytes.
 */
export async function exportQuery(conn: DuckDBConnection, query: string, format: ExportFormat, file: string): Promise<void> {
  let select = format === 'parquet' ? query : await recastColumns(conn, query, /^BLOB$/, (c) => `base64(${c})`);
  if (format === 'csv') select = await recastColumns(conn, select, /[[\]]|^(STRUCT|MAP|UNION)\b/, (c) => `to_json(${c})::VARCHAR`);
  const options = {
    csv: 'FORMAT csv, HEADER true',
    json: 'FORMAT json, ARRAY true',
    ndjson: 'FORMAT json',
    parquet: 'FORMAT parquet, COMPRESSION zstd',
  }[format];
  await conn.run(`COPY (${select}\n) TO ${sqlString(file)} (${options})`);
}
