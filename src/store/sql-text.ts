// SQL text for the values this project writes into its own queries (file lists, identifiers,
// exact doubles): pure functions, apart from the DuckDB client so that building SQL loads nothing.
// Values from a user, a file or a URL are bound as parameters instead (duck.ts, queryRows).

export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * A double as a SQL literal that round-trips exactly. A string cast, because DuckDB reads a bare
 * `0.37356134990519035` as a DECIMAL, whose cast to DOUBLE can land one unit in the last place off.
 */
export function sqlDouble(x: number): string {
  return `'${Number.isNaN(x) ? 'NaN' : x === Infinity ? 'Infinity' : x === -Infinity ? '-Infinity' : x.toPrecision(17)}'::DOUBLE`;
}

export function sqlIdent(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

export function sqlFileList(files: readonly string[]): string {
  return `[${files.map(sqlString).join(', ')}]`;
}
