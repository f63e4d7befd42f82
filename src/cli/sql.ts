import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPipeline } from '../dag/pipeline.js';
import { openViews } from '../dag/views.js';
import { queryRows } from '../store/duck.js';
import { assertReadOnlyStatement, sandbox } from '../store/sql-guard.js';
import { MiroError } from '../errors.js';
import { formatCsv, formatJson, formatTable } from '../util/table.js';

export default async function sql(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      format: { type: 'string', default: 'table' },
      'data-root': { type: 'string' },
      // Without it: one read-only statement, reading only the pipeline's data.
      unsafe: { type: 'boolean', default: false },
    },
  });
  const [file, query] = positionals;
  if (!file || (!query && !values.file)) throw new MiroError('usage: miro sql PIPELINE "QUERY" (or -f FILE.sql)');
  const text = values.file ? readFileSync(values.file, 'utf8') : query!;
  const pipeline = loadPipeline(file, { dataRoot: values['data-root'] });
  const { conn, views } = await openViews(pipeline);
  try {
    if (!values.unsafe) {
      await assertReadOnlyStatement(conn, text);
      await sandbox(conn, [pipeline.settings.dataRoot]);
    }
    let rows;
    try {
      rows = await queryRows(conn, text);
    } catch (err) {
      throw new MiroError(`${(err as Error).message}\n(views: ${views.map((v) => v.name).join(', ')})`);
    }
    const out = values.format === 'csv' ? formatCsv(rows) : values.format === 'json' ? formatJson(rows) : formatTable(rows);
    console.log(out);
  } finally {
    conn.closeSync();
  }
  return 0;
}
