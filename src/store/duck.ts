// DuckDB is the only thing that reads or writes Parquet. Rows go in through data chunks of at
// most 2048 rows (the appender's fast path) and out as columns.

import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Duck from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBInstance, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { StoreError } from '../errors.js';
import type { Batch, Column, ColumnType, ColumnValues, Value } from './batch.js';
import { commitFile } from './atomic.js';
import { sha256File } from '../util/hash.js';
import { settings } from '../util/settings.js';
import { sqlIdent, sqlString } from './sql-text.js';

const CHUNK_ROWS = 2048;

let api: typeof Duck | undefined;

/** @duckdb/node-api, loaded by the first connection: its native library costs a command that needs no SQL (status, --help) a few tenths of a second. */
async function duckdb(): Promise<typeof Duck> {
  api ??= await import('@duckdb/node-api');
  return api;
}

/**
 * The client, for code that only runs once a connection exists (values, chunks, scalar functions).
 * A connection opened elsewhere (a caller's own DuckDBInstance) may come first: the package is
 * CommonJS, so require() gives the same module, classes included, synchronously.
 */
export function loaded(): typeof Duck {
  api ??= createRequire(import.meta.url)('@duckdb/node-api') as typeof Duck;
  return api;
}

let instance: Promise<DuckDBInstance> | undefined;

/** DuckDB's worker threads: MIRO_DUCKDB_THREADS, by default 2. */
export function duckThreads(): number {
  return Math.max(1, settings().duckdbThreads);
}

let spillDirectory: string | undefined;

/**
 * Where DuckDB spills what does not fit in its memory limit (a join or sort over a large run):
 * a folder inside the pipeline's data, set by the CLI once it knows it. Without one, an in-memory
 * DuckDB cannot spill, and a big query fails with out-of-memory instead.
 */
export function setSpillDirectory(dir: string): void {
  spillDirectory = dir;
}

function instanceOptions(): Record<string, string> {
  return { threads: String(duckThreads()), ...(spillDirectory ? { temp_directory: spillDirectory } : {}) };
}

/** The process-wide DuckDB instance (in memory; Parquet files are the storage). */
export function duckInstance(): Promise<DuckDBInstance> {
  instance ??= duckdb().then((d) => d.DuckDBInstance.create(':memory:', instanceOptions()));
  return instance;
}

export async function connect(): Promise<DuckDBConnection> {
  return (await duckInstance()).connect();
}

/** Keeps a private instance alive as long as its connection. */
const owners = new WeakMap<DuckDBConnection, DuckDBInstance>();

/**
 * A connection to a DuckDB instance of its own: for a session that sandboxes itself (sql-guard's
 * sandbox), since those settings hold for a whole instance and would otherwise reach every other
 * connection of the process.
 */
export async function connectIsolated(): Promise<DuckDBConnection> {
  const own = await (await duckdb()).DuckDBInstance.create(':memory:', instanceOptions());
  const conn = await own.connect();
  owners.set(conn, own);
  return conn;
}

export { sqlDouble, sqlFileList, sqlIdent, sqlString } from './sql-text.js';

function duckType(type: ColumnType): DuckDBType {
  const d = loaded();
  const types: Record<ColumnType, DuckDBType> = {
    VARCHAR: d.VARCHAR,
    DOUBLE: d.DOUBLE,
    FLOAT: d.FLOAT,
    INTEGER: d.INTEGER,
    BIGINT: d.BIGINT,
    BOOLEAN: d.BOOLEAN,
    BLOB: d.BLOB,
    'FLOAT[]': d.LIST(d.FLOAT),
    'DOUBLE[]': d.LIST(d.DOUBLE),
  };
  return types[type];
}

function toDuck(type: ColumnType, values: ColumnValues): readonly DuckDBValue[] {
  const { blobValue, listValue } = loaded();
  if (type === 'BLOB') return (values as readonly Value[]).map((v) => (v == null ? null : blobValue(v as Uint8Array)));
  if (type === 'FLOAT[]' || type === 'DOUBLE[]') {
    return (values as readonly Value[]).map((v) => (v == null ? null : listValue(Array.from(v as ArrayLike<number>))));
  }
  if (type === 'BIGINT') return (values as readonly Value[]).map((v) => (v == null ? null : BigInt(v as number)));
  return values as readonly DuckDBValue[];
}

export interface WrittenFile {
  file: string;
  rows: number;
  bytes: number;
  sha256: string;
}

/** COPY a query to `<target>.tmp` (zstd), fsync, rename into place; then count, size and hash it. */
async function copyToParquet(conn: DuckDBConnection, select: string, target: string): Promise<WrittenFile> {
  const tmp = `${target}.tmp`;
  await fs.mkdir(path.dirname(target), { recursive: true });
  await conn.run(`COPY (${select}) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 8192)`);
  await commitFile(tmp, target);
  const rows = Number((await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(target)})`)).getRows()[0]![0]);
  const [stat, sha] = await Promise.all([fs.stat(target), sha256File(target)]);
  return { file: target, rows, bytes: stat.size, sha256: sha };
}

/**
 * Streams batches into a temporary table, then writes it as one zstd Parquet file ordered by
 * `orderBy`, durably: `.tmp`, fsync, rename. The caller writes the marker afterwards.
 */
export async function writeParquet(
  columns: Column[],
  batches: AsyncIterable<Batch> | Iterable<Batch>,
  target: string,
  opts: { orderBy?: string; context: string },
): Promise<WrittenFile> {
  const conn = await connect();
  const table = `w_${process.pid}_${Math.random().toString(36).slice(2)}`;
  const tmp = `${target}.tmp`;
  try {
    await conn.run(`CREATE TEMP TABLE ${table} (${columns.map((c) => `${sqlIdent(c.name)} ${c.type}`).join(', ')})`);
    const appender = await conn.createAppender(table, 'main', 'temp');
    const types = columns.map((c) => duckType(c.type));
    for await (const batch of batches) {
      for (const c of columns) {
        const v = batch.columns[c.name];
        if (!v) throw new StoreError(`${opts.context}: batch lacks column "${c.name}" (has: ${Object.keys(batch.columns).join(', ')})`);
        if (v.length !== batch.rows)
          throw new StoreError(`${opts.context}: column "${c.name}" has ${v.length} values for ${batch.rows} rows`);
      }
      for (let start = 0; start < batch.rows; start += CHUNK_ROWS) {
        const n = Math.min(CHUNK_ROWS, batch.rows - start);
        const chunk = loaded().DuckDBDataChunk.create(types, n);
        columns.forEach((c, i) => {
          const v = batch.columns[c.name]!;
          const part = 'subarray' in v ? v.subarray(start, start + n) : v.slice(start, start + n);
          chunk.setColumnValues(i, toDuck(c.type, part as ColumnValues));
        });
        appender.appendDataChunk(chunk);
      }
    }
    appender.flushSync();
    appender.closeSync();
    return await copyToParquet(conn, `SELECT * FROM ${table} ORDER BY ${opts.orderBy ?? 'id'}`, target);
  } catch (err) {
    await fs.rm(tmp, { force: true }); // a half-written file only takes space (e.g. on a full disk)
    if (err instanceof StoreError) throw err;
    throw new StoreError(`${opts.context}: writing ${target} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    conn.closeSync();
  }
}

/**
 * Writes a query's result as one zstd Parquet file ordered by id, durably, without a JavaScript
 * round trip. `orderedById`: the query already yields rows in id order, so no sort is needed.
 */
export async function writeParquetQuery(
  query: string,
  target: string,
  opts: { orderedById?: boolean; context: string },
): Promise<WrittenFile & { stats: Record<string, number> }> {
  const conn = await connect();
  const tmp = `${target}.tmp`;
  try {
    const written = await copyToParquet(conn, opts.orderedById ? query : `SELECT * FROM (${query}) ORDER BY id`, target);
    return { ...written, stats: { total: written.rows, ok: written.rows } };
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw new StoreError(`${opts.context}: writing ${target} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    conn.closeSync();
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Converts a DuckDB value to the plain JS value stages see. */
export function fromDuck(v: DuckDBValue): Value {
  if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  // BIGINT and HUGEINT stay exact: a Number where it holds the value, a BigInt past 2^53.
  if (typeof v === 'bigint') return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
  const { DuckDBBlobValue, DuckDBListValue } = loaded();
  if (v instanceof DuckDBBlobValue) return v.bytes;
  if (v instanceof DuckDBListValue) return v.items.map((x) => Number(x));
  return String(v);
}

/** Streams a query's result as column batches. */
export async function* queryBatches(conn: DuckDBConnection, sql: string, batchRows = 2048): AsyncIterable<Batch> {
  const result = await conn.stream(sql);
  const names = result.columnNames();
  let pending: Record<string, Value[]> = Object.fromEntries(names.map((n) => [n, []]));
  let rows = 0;
  for await (const chunk of result) {
    const cols = chunk.getColumns();
    names.forEach((n, i) => {
      const target = pending[n]!;
      for (const v of cols[i]!) target.push(fromDuck(v));
    });
    rows += chunk.rowCount;
    if (rows >= batchRows) {
      yield { rows, columns: pending };
      pending = Object.fromEntries(names.map((n) => [n, []]));
      rows = 0;
    }
  }
  if (rows > 0) yield { rows, columns: pending };
}

/** A query's rows as objects; `params` binds `$1`, `$2`, ... (values from users, files or URLs never enter the SQL text). */
export async function queryRows(
  conn: DuckDBConnection,
  sql: string,
  params?: (string | number | boolean | null)[],
): Promise<Record<string, Value>[]> {
  const reader = await conn.runAndReadAll(sql, params as DuckDBValue[] | undefined);
  const names = reader.columnNames();
  return reader.getRows().map((r) => Object.fromEntries(names.map((n, i) => [n, fromDuck(r[i]!)])));
}
