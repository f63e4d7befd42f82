import { parseArgs } from 'node:util';
import { loadPipeline } from '../dag/pipeline.js';
import { openViews, populated } from '../dag/views.js';
import { writeDataReport } from '../report/data-report.js';
import { MiroError } from '../errors.js';

export default async function report(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'data-root': { type: 'string' }, out: { type: 'string' } },
  });
  if (!positionals[0]) throw new MiroError('report needs a pipeline file');
  const pipeline = loadPipeline(positionals[0], { dataRoot: values['data-root'] });
  const { conn, views } = await openViews(pipeline);
  try {
    const written = await writeDataReport(conn, populated(views), values.out ?? pipeline.settings.reportDir);
    console.log(`report: ${written.file} (${written.charts.length} charts)`);
  } finally {
    conn.closeSync();
  }
  return 0;
}
