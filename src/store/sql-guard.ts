// Guards for SQL that a user types: a `--where` filter must be one expression, and `miro sql`
// runs one read-only statement in a sandbox that can read only the pipeline's data.

import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows, sqlString } from './duck.js';
import { MiroError } from '../errors.js';

/**
 * Throws unless `expr` parses as exactly one SQL expression: DuckDB's own parser reads it as the
 * WHERE clause of `SELECT 1`, so `true) OR (true` or a stacked `; COPY ...` does not parse.
 */
export async function assertExpression(conn: DuckDBConnection, expr: string, what: string): Promise<void> {
  const [row] = await queryRows(conn, `SELECT json_serialize_sql(${sqlString(`SELECT 1 WHERE ${expr}`)}) AS j`);
  const parsed = JSON.parse(String(row!.j)) as { error: boolean; error_message?: string; statements?: unknown[] };
  if (parsed.error || parsed.statements?.length !== 1)
    throw new MiroError(
      `${what} ${JSON.stringify(expr)} is not one SQL expression${parsed.error_message ? ` (${parsed.error_message})` : ''}`,
    );
}

// DuckDB's StatementType: SELECT (1) and EXPLAIN (4) only read.
const READ_ONLY_TYPES = new Set([1, 4]);
const WRITING_START =
  /^\s*(copy|attach|detach|install|load|export|import|create|insert|update|delete|drop|alter|set|reset|pragma|call|checkpoint|vacuum|use)\b/i;

/**
 * Throws unless `sql` is a single statement that only reads (SELECT, WITH, PIVOT, DESCRIBE,
 * SUMMARIZE, EXPLAIN and the like): no second statement, COPY, ATTACH, INSTALL, LOAD or SET.
 */
export async function assertReadOnlyStatement(conn: DuckDBConnection, sql: string): Promise<void> {
  const count = statementCount(sql);
  if (count !== 1) throw new MiroError(`miro sql runs one statement at a time, got ${count} (--unsafe runs several)`);
  // A writing first word is refused before DuckDB sees the statement: preparing some of them acts
  // already (preparing EXPORT DATABASE creates its folder).
  if (WRITING_START.test(stripComments(sql)))
    throw new MiroError('miro sql runs read-only statements (SELECT, PIVOT, DESCRIBE, EXPLAIN, ...); --unsafe runs anything');
  // DuckDB may expand one statement into several (a PIVOT creates its enum type first): judge the last.
  const extracted = await conn.extractStatements(sql);
  let type: number | null = null;
  try {
    type = (await extracted.prepare(extracted.count - 1)).statementType as number;
  } catch {
    // A statement that cannot be prepared alone is judged by its first word.
  }
  if (type === null ? WRITING_START.test(stripComments(sql)) : !READ_ONLY_TYPES.has(type))
    throw new MiroError('miro sql runs read-only statements (SELECT, PIVOT, DESCRIBE, EXPLAIN, ...); --unsafe runs anything');
}

/** The text without comments, string literals kept. */
function stripComments(sql: string): string {
  return sql.replace(/('(?:[^']|'')*'|"(?:[^"]|"")*")|--[^\n]*|\/\*[\s\S]*?\*\//g, (_m, quoted: string | undefined) => quoted ?? ' ');
}

/** Statements in the text: top-level semicolons outside strings, quoted names and comments, empty ones not counted. */
export function statementCount(sql: string): number {
  const bare = stripComments(sql).replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"/g, "''");
  return bare.split(';').filter((part) => part.trim() !== '').length;
}

/** From now on the connection's database reads and writes files only under `dirs`, and cannot be reconfigured. */
export async function sandbox(conn: DuckDBConnection, dirs: string[], opts: { memoryLimit?: string } = {}): Promise<void> {
  await conn.run(`SET allowed_directories = [${dirs.map((d) => sqlString(d.endsWith('/') ? d : `${d}/`)).join(', ')}]`);
  if (opts.memoryLimit) await conn.run(`SET memory_limit = ${sqlString(opts.memoryLimit)}`);
  await conn.run('SET enable_external_access = false');
  await conn.run('SET lock_configuration = true');
}
