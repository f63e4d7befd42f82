// Runs the SQL reports in sql/reports/ against a pipeline's views. Each file names its title
// and the views it needs; a report whose views are absent is skipped, not failed.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SQL_DIR } from '../util/sql-file.js';
import { queryRows } from '../store/duck.js';
import type { Value } from '../store/batch.js';

export interface SqlReport {
  name: string;
  title: string;
  file: string;
  needs: string[];
  sql: string;
}

export interface ReportTable {
  report: SqlReport;
  rows: Record<string, Value>[];
}

export function listReports(dir = path.join(SQL_DIR, 'reports')): SqlReport[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => {
      const text = readFileSync(path.join(dir, f), 'utf8');
      return {
        name: f.slice(0, -4),
        file: path.join(dir, f),
        title: /^-- title: (.*)$/m.exec(text)?.[1] ?? f,
        needs: (/^-- needs: (.*)$/m.exec(text)?.[1] ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        sql: text.trim(),
      };
    });
}

export async function runReports(conn: DuckDBConnection, views: Set<string>): Promise<ReportTable[]> {
  const out: ReportTable[] = [];
  for (const report of listReports()) {
    if (!report.needs.every((v) => views.has(v))) continue;
    out.push({ report, rows: await queryRows(conn, report.sql) });
  }
  return out;
}
