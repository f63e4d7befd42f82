// The dataset report: every SQL report in sql/reports/ as a Markdown table with its query
// beside it, one histogram per reward, and charts of bin populations and correlations.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { runReports } from './sql-reports.js';
import { renderChart, histogram } from './charts.js';
import { queryRows } from '../store/duck.js';
import { exportQuery } from '../store/export.js';
import { formatMarkdown } from '../util/table.js';

export interface WrittenReport {
  markdown: string;
  file: string;
  charts: string[];
}

export async function writeDataReport(conn: DuckDBConnection, views: Set<string>, dir: string): Promise<WrittenReport> {
  await fs.mkdir(dir, { recursive: true });
  const tables = await runReports(conn, views);
  const charts: string[] = [];
  const md: string[] = [
    '# Dataset report',
    '',
    "Every table below is the result of the SQL shown with it, run over the pipeline's views (`miro sql`).",
    '',
  ];
  for (const t of tables) {
    md.push(
      `## ${t.report.title}`,
      '',
      formatMarkdown(t.rows),
      '',
      '<details><summary>query</summary>',
      '',
      '```sql',
      t.report.sql,
      '```',
      '</details>',
      '',
    );
    await exportQuery(conn, t.report.sql.trim().replace(/;\s*$/, ''), 'csv', path.join(dir, `${t.report.name}.csv`));
  }
  if (views.has('scores')) {
    const rewards = await columnsOf(conn, 'scores');
    md.push('## Reward histograms', '');
    for (const r of rewards.filter((c) => c !== 'id')) {
      const values = (await queryRows(conn, `SELECT "${r}" AS value FROM scores WHERE "${r}" IS NOT NULL`)) as { value: number }[];
      const file = path.join(dir, `hist_${r}.png`);
      await renderChart(histogram(values, r), file);
      charts.push(file);
      md.push(`![${r}](hist_${r}.png)`);
    }
    md.push('');
  }
  if (views.has('bin_edges')) {
    const values = await queryRows(conn, 'SELECT reward, bin, population FROM bin_edges ORDER BY reward, bin');
    const file = path.join(dir, 'bin_populations.png');
    await renderChart(
      {
        title: 'Calibration rows per bin',
        data: { values },
        facet: { field: 'reward', type: 'nominal' },
        columns: 4,
        spec: {
          width: 160,
          height: 90,
          mark: 'bar',
          encoding: { x: { field: 'bin', type: 'ordinal', axis: { labels: false } }, y: { field: 'population', type: 'quantitative' } },
        },
      },
      file,
    );
    charts.push(file);
    md.push('## Bin populations', '', '![bin populations](bin_populations.png)', '');
  }
  const file = path.join(dir, 'dataset.md');
  const markdown = md.join('\n');
  await fs.writeFile(file, markdown);
  return { markdown, file, charts };
}

async function columnsOf(conn: DuckDBConnection, view: string): Promise<string[]> {
  return (await queryRows(conn, `SELECT column_name FROM (DESCRIBE ${view})`)).map((r) => String(r.column_name));
}
