// `report`: the run's report. The dataset report (reward distributions, bins, correlations,
// histograms) and the paper's claims measured in miniature (sql/claims/), each stated as holding
// or not, with its table, its query and contact sheets of the samples. Rows: one per claim.

import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import { SQL_DIR } from '../util/sql-file.js';
import { sha256 } from '../util/hash.js';
import path from 'node:path';
import { p } from './params.js';
import { defineStage } from './types.js';
import { writeDataReport } from '../report/data-report.js';
import { runClaims, type ClaimResult } from '../report/claims.js';
import { formatMarkdown } from '../util/table.js';
import { queryRows, sqlIdent } from '../store/duck.js';
import type { Value } from '../store/batch.js';
import { renderChart } from '../report/charts.js';

export const report = defineStage({
  kind: 'report',
  version: 1,
  doc: 'Markdown report with charts; rows are the claims and whether each holds.',
  mode: 'global',
  params: {
    evaluations: p.string({ doc: 'the evaluate node' }),
    miro_train: p.string({ doc: 'the train node of the MIRO model' }),
    baseline_train: p.string({ doc: 'the train node of the baseline' }),
    samples: p.list(p.string({ doc: 'a sample node' }), { doc: 'sample nodes whose contact sheets the report shows', default: [] }),
    target_reward: p.string({ doc: 'the reward swept in claim 5 (the paper: aesthetic)' }),
    best_of_reward: p.string({ doc: 'the reward that picks the best of N in claim 6 (the paper: PickScore)' }),
  },
  needs: { min: 1 },
  rowsCanFail: false,
  // The claims and reports are SQL files: a changed query re-runs the report.
  identity: () => ({
    sql: sha256(
      ['claims', 'reports', 'summary']
        .flatMap((d) =>
          readdirSync(path.join(SQL_DIR, d))
            .sort()
            .map((f) => readFileSync(path.join(SQL_DIR, d, f), 'utf8')),
        )
        .join('\n'),
    ),
  }),
  columns: () => [
    { name: 'claim', type: 'VARCHAR' },
    { name: 'holds', type: 'BOOLEAN' },
    { name: 'summary', type: 'VARCHAR' },
    { name: 'paper', type: 'VARCHAR' },
  ],

  async *run(ctx) {
    const prm = ctx.params;
    const dir = ctx.pipeline.reportDir;
    const { conn, views } = await ctx.openViews();
    try {
      const dataset = await writeDataReport(conn, views, dir);
      const claims = await runClaims(conn, {
        evaluations: sqlIdent(prm.evaluations),
        miro_train: sqlIdent(prm.miro_train),
        baseline_train: sqlIdent(prm.baseline_train),
        target_reward: prm.target_reward,
        best_of_reward: prm.best_of_reward,
      });
      const summary = (name: string) =>
        queryRows(
          conn,
          readFileSync(path.join(SQL_DIR, 'summary', `${name}.sql`), 'utf8').replaceAll('{{evaluations}}', sqlIdent(prm.evaluations)),
        );
      const chance = await summary('geneval_vs_chance');
      const perTag = await summary('geneval_per_tag');
      const charts = await trainingCurves(conn, prm.miro_train, prm.baseline_train, dir);
      const sheets: string[] = [];
      for (const node of prm.samples) {
        const contact = ctx.inputs.layout(node).contactDir();
        for (const f of (await fs.readdir(contact).catch(() => [] as string[])).sort()) sheets.push(path.join(contact, f));
      }
      const file = path.join(dir, 'report.md');
      await fs.writeFile(
        file,
        renderMarkdown(
          ctx.pipeline.name,
          claims,
          chance,
          perTag,
          path.relative(dir, dataset.file),
          charts,
          sheets.map((s) => path.relative(dir, s)),
        ),
      );
      ctx.log(`report: ${file}`);
      for (const c of claims) ctx.log(`  ${c.holds === null ? '?' : c.holds ? 'holds' : 'does not hold'}: ${c.claim} (${c.summary})`);
      yield {
        rows: claims.length,
        columns: {
          id: claims.map((c) => c.id),
          claim: claims.map((c) => c.claim),
          holds: claims.map((c) => c.holds),
          summary: claims.map((c) => (c.error ? `${c.summary}: ${c.error}` : c.summary)),
          paper: claims.map((c) => c.paper),
        },
      };
    } finally {
      conn.closeSync();
    }
  },
});

async function trainingCurves(
  conn: import('@duckdb/node-api').DuckDBConnection,
  miro: string,
  baseline: string,
  dir: string,
): Promise<string[]> {
  const rows = await queryRows(
    conn,
    `SELECT 'miro' AS model, step, loss FROM ${sqlIdent(miro)} UNION ALL SELECT 'baseline', step, loss FROM ${sqlIdent(baseline)} ORDER BY model, step`,
  );
  const evals = await queryRows(
    conn,
    `SELECT * FROM (UNPIVOT (SELECT 'miro' AS model, step, COLUMNS('^eval_') FROM ${sqlIdent(miro)} UNION ALL BY NAME SELECT 'baseline' AS model, step, COLUMNS('^eval_') FROM ${sqlIdent(baseline)}) ON COLUMNS('^eval_') INTO NAME metric VALUE value) ORDER BY metric, model, step`,
  );
  const loss = path.join(dir, 'training_loss.png');
  await renderChart(
    {
      title: 'Training loss',
      width: 420,
      height: 200,
      data: { values: rows },
      mark: 'line',
      encoding: {
        x: { field: 'step', type: 'quantitative' },
        y: { field: 'loss', type: 'quantitative', scale: { zero: false } },
        color: { field: 'model', type: 'nominal' },
      },
    },
    loss,
  );
  const curves = path.join(dir, 'training_evals.png');
  await renderChart(
    {
      title: 'Evaluations during training (EMA weights)',
      data: { values: evals },
      columns: 4,
      facet: { field: 'metric', type: 'nominal' },
      spec: {
        width: 150,
        height: 100,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'step', type: 'quantitative' },
          y: { field: 'value', type: 'quantitative', scale: { zero: false } },
          color: { field: 'model', type: 'nominal' },
        },
      },
      resolve: { scale: { y: 'independent' } },
    },
    curves,
  );
  return [loss, curves].map((f) => path.relative(dir, f));
}

function renderMarkdown(
  name: string,
  claims: ClaimResult[],
  chance: Record<string, Value>[],
  perTag: Record<string, Value>[],
  datasetLink: string,
  charts: string[],
  sheets: string[],
): string {
  const md: string[] = [
    `# MIRO in miniature: ${name}`,
    '',
    "The paper's claims, measured on the embedded synthetic world. Each claim is one query over the",
    "pipeline's Parquet (`miro sql`), shown with its result; what does not hold is reported as such.",
    '',
  ];
  md.push(`Dataset report: [${datasetLink}](${datasetLink})`, '');
  md.push(
    formatMarkdown(
      claims.map((c) => ({
        claim: c.claim,
        holds: c.holds === null ? 'not measured' : c.holds ? 'holds' : 'does not hold',
        detail: c.summary,
        paper: c.paper,
      })),
    ),
    '',
  );
  if (chance.length) {
    const best = chance.reduce((a, b) => (Number(b.above_chance) > Number(a.above_chance) ? b : a));
    md.push(
      '## mini-GenEval against chance',
      '',
      'Each accuracy next to its chance control: the same images judged against prompts shuffled within each tag.',
      `The largest margin above chance is ${best.above_chance} (${best.variant}, setting ${best.setting}: ${best.geneval} against ${best.chance}).`,
      Number(best.above_chance) < 0.1
        ? 'No model draws the prompted objects much more often than chance: at this training budget the samples are not yet judged as scenes.'
        : '',
      '',
      formatMarkdown(chance),
      '',
    );
    if (perTag.length) md.push('Per tag, for the settings of the first claim:', '', formatMarkdown(perTag), '');
  }
  for (const c of claims) {
    md.push(
      `## ${c.claim}`,
      '',
      `Paper: ${c.paper}`,
      '',
      `Verdict (${c.verdict} rows): **${c.holds === null ? 'not measured' : c.holds ? 'holds' : 'does not hold'}** (${c.summary}).`,
      '',
    );
    if (c.error) md.push(`Error: \`${c.error}\``, '');
    if (c.rows.length) md.push(formatMarkdown(c.rows), '');
    md.push('<details><summary>query</summary>', '', '```sql', c.sql.trim(), '```', '</details>', '');
  }
  md.push('## Training', '', ...charts.map((c) => `![${c}](${c})`), '');
  if (sheets.length)
    md.push(
      '## Contact sheets',
      '',
      ...sheets.map((s) => `### ${path.basename(s, '.png')} (${path.basename(path.dirname(path.dirname(s)))})\n\n![${s}](${s})\n`),
    );
  return md.join('\n');
}
