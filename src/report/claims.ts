// The paper's claims, measured in miniature: each file in sql/claims/ is one claim, a query
// whose rows carry a `holds` column, and a verdict rule: `all` (most rows are judged and hold,
// and none fails) or `any` (some row holds). A row whose `holds` is NULL could not be judged: it
// never counts as holding. Whatever does not hold is reported as such, with its numbers.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { SQL_DIR } from '../util/sql-file.js';
import { queryRows } from '../store/duck.js';
import type { Value } from '../store/batch.js';

export interface ClaimResult {
  id: string;
  claim: string;
  paper: string;
  verdict: 'all' | 'any';
  sql: string;
  rows: Record<string, Value>[];
  /** true / false, or null when the rows gave nothing to judge. */
  holds: boolean | null;
  summary: string;
  error: string | null;
}

export function judgeRows(rows: Record<string, Value>[], verdict: ClaimResult['verdict']): { holds: boolean | null; summary: string } {
  const judged = rows.map((r) => r.holds).filter((h): h is boolean => typeof h === 'boolean');
  if (judged.length === 0)
    return { holds: null, summary: rows.length ? `none of ${rows.length} rows could be judged` : 'not measurable (no rows)' };
  const yes = judged.filter(Boolean).length;
  const unjudged = rows.length - judged.length;
  const summary = `${yes} of ${rows.length} rows hold${unjudged ? `, ${unjudged} not judged` : ''}`;
  const holds = verdict === 'all' ? yes > rows.length / 2 && yes === judged.length : yes > 0;
  return { holds, summary };
}

export async function runClaims(conn: DuckDBConnection, vars: Record<string, string>): Promise<ClaimResult[]> {
  const dir = path.join(SQL_DIR, 'claims');
  const out: ClaimResult[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const sql = text.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => vars[k] ?? `{{${k}}}`);
    const base = {
      id: file.replace(/\.sql$/, ''),
      claim: /^-- claim: (.*)$/m.exec(text)?.[1] ?? file,
      paper: /^-- paper: (.*)$/m.exec(text)?.[1] ?? '',
      verdict: (/^-- verdict: (\w+)$/m.exec(text)?.[1] ?? 'all') as ClaimResult['verdict'],
      sql,
    };
    try {
      const rows = await queryRows(conn, sql);
      out.push({ ...base, rows, ...judgeRows(rows, base.verdict), error: null });
    } catch (err) {
      out.push({ ...base, rows: [], holds: null, summary: 'could not be measured', error: (err as Error).message.split('\n')[0]! });
    }
  }
  return out;
}
