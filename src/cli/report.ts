// `miro report PIPELINE`: the SQL reports as tables and charts in one Markdown file.

import type { Command } from 'commander';
import { collect } from './args.js';

export default function register(program: Command): void {
  program
    .command('report')
    .description("tables and charts of the SQL reports (sql/reports/) over a pipeline's data")
    .argument('<pipeline>', 'pipeline YAML')
    .option('--out <dir>', "folder for the report (default: the pipeline's settings.report_dir)")
    .option('--data-root <dir>', 'where the pipeline wrote its data')
    .option('--set <key=value>', 'override a pipeline key, e.g. nodes.train_miro.with.steps=100 (repeatable; values read as YAML)', collect)
    .action(async (file: string, o: { out?: string; dataRoot?: string; set?: string[] }) => {
      const { openPipeline } = await import('./pipeline.js');
      const { openViews, populated } = await import('../dag/views.js');
      const { writeDataReport } = await import('../report/data-report.js');
      const pipeline = openPipeline(file, { dataRoot: o.dataRoot, set: o.set });
      const { conn, views } = await openViews(pipeline);
      try {
        const written = await writeDataReport(conn, populated(views), o.out ?? pipeline.settings.reportDir);
        console.log(`report: ${written.file} (${written.charts.length} charts)`);
      } finally {
        conn.closeSync();
      }
    });
}
