// `miro sql PIPELINE "QUERY"`: one read-only query over the pipeline's views. `--format table`
// is for people; csv, json, ndjson and parquet are exports written by DuckDB itself (COPY), so
// every value round-trips: doubles in shortest exact form, BIGINT and HUGEINT exact, nested
// types as JSON in CSV, a header even when no row matches.

import { createReadStream, promises as fs, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline as pipe } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import type { DuckDBConnection } from '@duckdb/node-api';
import { commitFile } from '../store/atomic.js';
import type { ExportFormat } from '../store/export.js';
import { MiroError, UsageError } from '../errors.js';
import { formatTable } from '../util/table.js';
import { collect } from './args.js';

const TABLE_ROWS = 1000;
const FORMATS = ['table', 'csv', 'json', 'ndjson', 'parquet'] as const;
type Format = (typeof FORMATS)[number];

interface SqlOptions {
  set?: string[];
  file?: string;
  format: Format;
  out?: string;
  dataRoot?: string;
  unsafe?: boolean;
}

export default function register(program: Command): void {
  program
    .command('sql')
    .description("one read-only SQL query over a pipeline's views (a view per node, plus reward_inputs)")
    .argument('<pipeline>', 'pipeline YAML')
    .argument('[query]', 'the query (or -f FILE)')
    .option('-f, --file <sql>', 'read the query from a file')
    .addOption(
      new Option('--format <format>', 'output format; all but table are exact exports written by DuckDB').choices(FORMATS).default('table'),
    )
    .option('--out <file>', 'write the export to this file instead of stdout (required for parquet)')
    .option('--data-root <dir>', 'where the pipeline wrote its data')
    .option('--set <key=value>', 'override a pipeline key, e.g. nodes.train_miro.with.steps=100 (repeatable; values read as YAML)', collect)
    .option('--unsafe', 'lift the sandbox: any statement, any file (for your own scripts only)')
    .action(async (file: string, query: string | undefined, o: SqlOptions) => {
      const { openPipeline } = await import('./pipeline.js');
      const { openViews } = await import('../dag/views.js');
      const { queryRows } = await import('../store/duck.js');
      const { exportQuery } = await import('../store/export.js');
      const { assertReadOnlyStatement, sandbox } = await import('../store/sql-guard.js');
      if (!query && !o.file) throw new MiroError('give a query, or -f FILE.sql');
      if (query && o.file) throw new MiroError('give a query or -f FILE.sql, not both');
      if (o.format === 'parquet' && !o.out) throw new UsageError('--format parquet writes a file: give --out FILE.parquet');
      if (o.out && o.format === 'table') throw new UsageError('--out writes an export: give --format csv, json, ndjson or parquet');
      let text: string;
      try {
        text = o.file ? readFileSync(o.file, 'utf8') : query!;
      } catch (err) {
        throw new MiroError(`-f ${o.file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
      }
      const pipeline = openPipeline(file, { dataRoot: o.dataRoot, set: o.set });
      const { conn, views } = await openViews(pipeline, { isolated: !o.unsafe });
      // DuckDB writes exports into a folder of our own, inside the sandbox, and they move from there.
      const staging = o.format === 'table' ? null : mkdtempSync(path.join(os.tmpdir(), 'miro-sql-'));
      try {
        const fail = (err: unknown): never => {
          throw new MiroError(`${(err as Error).message}\n(views: ${views.map((v) => v.name).join(', ')})`);
        };
        const readOnly = await assertReadOnlyStatement(conn, text).then(
          () => true,
          (err: unknown) => (o.unsafe ? false : fail(err)),
        );
        if (!o.unsafe) await sandbox(conn, [pipeline.settings.dataRoot, ...(staging ? [staging] : [])]);
        // Only a query can be exported; with --unsafe, any other statement just runs.
        if (!staging || !readOnly) {
          // A table is for reading: the first TABLE_ROWS rows, and a note when there are more.
          const shown = readOnly
            ? `SELECT * FROM (${await exactIntegers(conn, text.trim().replace(/;\s*$/, ''))}\n) LIMIT ${TABLE_ROWS + 1}`
            : text;
          const rows = await queryRows(conn, shown).catch(fail);
          console.log(formatTable(rows.slice(0, TABLE_ROWS)));
          if (rows.length > TABLE_ROWS)
            console.error(`(first ${TABLE_ROWS} rows shown; --format csv, json, ndjson or parquet exports them all)`);
          return;
        }
        const tmp = path.join(staging, `out.${o.format === 'ndjson' ? 'jsonl' : o.format}`);
        await exportQuery(conn, text.trim().replace(/;\s*$/, ''), o.format as ExportFormat, tmp).catch(fail);
        if (o.out) {
          // Next to the target, then renamed: a failed copy (a full disk) leaves an earlier --out file whole.
          const part = `${o.out}.tmp-${process.pid}`;
          try {
            await fs.copyFile(tmp, part);
            await commitFile(part, o.out);
          } catch (err) {
            await fs.rm(part, { force: true });
            throw new MiroError(`--out ${o.out}: ${(err as Error).message}`);
          }
        } else await pipe(createReadStream(tmp), process.stdout, { end: false });
      } finally {
        conn.closeSync();
        if (staging) await fs.rm(staging, { recursive: true, force: true });
      }
    });
}

/** The query with 64- and 128-bit integers as text, so the table shows them exactly (JavaScript numbers would round them). */
async function exactIntegers(conn: DuckDBConnection, query: string): Promise<string> {
  const { recastColumns } = await import('../store/export.js');
  return recastColumns(conn, query, /^(U?BIGINT|U?HUGEINT|DECIMAL)/, (c) => `${c}::VARCHAR`);
}
