// The shared loop of map stages whose rows can fail: read the selected input columns in
// batches, pass rows that failed upstream through as `upstream_failed`, hand the rest to the
// stage, and turn each row's outcome into `status`/`error`. A stage only says what a row
// becomes, or why it failed.

import type { Batch, SelectOptions, ShardContext, Value } from './types.js';
import { errorMessage, RowError } from '../errors.js';

export type Row = Record<string, Value> & { id: string };
export type RowResult = Record<string, Value> | RowError;

export async function* mapRows<P>(
  ctx: ShardContext<P>,
  select: SelectOptions,
  outputColumns: string[],
  process: (rows: Row[]) => Promise<RowResult[]>,
): AsyncIterable<Batch> {
  let done = 0;
  for await (const b of ctx.inputs.select(select)) {
    const rows: Row[] = Array.from(
      { length: b.rows },
      (_, i) => Object.fromEntries(Object.entries(b.columns).map(([k, v]) => [k, v[i] ?? null])) as Row,
    );
    const live = rows.filter((r) => !r.upstream_error);
    const results = live.length ? await process(live) : [];
    const byId = new Map(live.map((r, i) => [r.id, results[i]]));
    const out: Record<string, Value[]> = Object.fromEntries(['id', ...outputColumns, 'status', 'error'].map((c) => [c, []]));
    for (const r of rows) {
      const res: RowResult | undefined = r.upstream_error ? new RowError('upstream_failed', String(r.upstream_error)) : byId.get(r.id);
      out.id!.push(r.id);
      if (res === undefined || res instanceof Error) {
        const err = res ?? new RowError('no_result', 'the stage returned no result for this row');
        for (const c of outputColumns) out[c]!.push(null);
        out.status!.push(err instanceof RowError ? err.status : 'error');
        out.error!.push(errorMessage(err));
      } else {
        for (const c of outputColumns) out[c]!.push(res[c] ?? null);
        out.status!.push('ok');
        out.error!.push(null);
      }
    }
    done += b.rows;
    ctx.progress(done);
    yield { rows: b.rows, columns: out };
  }
}

/** Runs a per-row function, turning a thrown error into that row's RowError. */
export function perRow(
  fn: (row: Row) => Record<string, Value> | Promise<Record<string, Value>>,
  errorClass = 'error',
): (rows: Row[]) => Promise<RowResult[]> {
  return (rows) =>
    Promise.all(
      rows.map(async (r) => {
        try {
          return await fn(r);
        } catch (err) {
          return err instanceof RowError ? err : new RowError(errorClass, errorMessage(err));
        }
      }),
    );
}
