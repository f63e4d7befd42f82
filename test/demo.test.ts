// The CI-sized variant of the demo pipeline, end to end: every stage kind, the report's
// structure, and every number in the claims tables recomputed from the Parquet outputs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT, runCli, tmpDir } from './helpers.ts';
import { loadPipeline } from '../src/dag/pipeline.ts';
import { openViews } from '../src/dag/views.ts';
import { runClaims } from '../src/report/claims.ts';
import { formatMarkdown } from '../src/util/table.ts';
import { listReports } from '../src/report/sql-reports.ts';
import { queryRows } from '../src/store/duck.ts';

test('the CI-sized demo runs end to end; its report is complete and every claim number comes from the Parquet', async (t) => {
  const data = tmpDir();
  const env = { MIRO_DATA_ROOT: data };
  const first = await runCli(['run', 'pipelines/ci.yaml'], { env });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /done: 21 node\(s\) ran/);
  assert.match(first.stderr, /\[report\] report: .*_report\/report\.md/);

  const reportDir = path.join(data, 'ci/_report');
  const report = readFileSync(path.join(reportDir, 'report.md'), 'utf8');
  const claimSections = report.split('\n').filter((l) => /^## /.test(l) && !/Training|Contact|against chance/.test(l));
  assert.equal(claimSections.length, 7, report);
  assert.match(report, /## mini-GenEval against chance\n\n.*\nThe largest margin above chance is /);
  assert.equal((report.match(/```sql/g) ?? []).length, 7);
  for (const f of ['dataset.md', 'training_loss.png', 'training_evals.png', 'bin_populations.png'])
    assert.ok(existsSync(path.join(reportDir, f)), f);
  assert.equal(readdirSync(reportDir).filter((f) => f.startsWith('hist_')).length, 7);
  assert.ok(existsSync(path.join(data, 'ci/sample_miro/_contact/w7.png')));
  // Every node folder reads as its rows alone: Parquet parts at the top, everything else under `_` names
  // (which pyarrow.dataset, pandas and Spark skip).
  const nodes = readdirSync(path.join(data, 'ci')).filter((n) => !n.startsWith('_'));
  assert.equal(nodes.length, 21);
  for (const n of nodes)
    for (const e of readdirSync(path.join(data, 'ci', n)))
      assert.match(e, /^(part-\d{5}\.parquet|_.*)$/, `${n}/${e} is neither a part nor a _ name: Parquet readers would trip on it`);
  const pyarrow = spawnSync('python3', ['-c', 'import pyarrow.dataset'], { encoding: 'utf8' });
  let pyarrowRows: Record<string, number> | null = null;
  if (pyarrow.status === 0) {
    const counts = spawnSync(
      'python3',
      [
        '-c',
        'import json, sys, pyarrow.dataset as ds; print(json.dumps({n: ds.dataset(f"{sys.argv[1]}/{n}", format="parquet").count_rows() for n in sys.argv[2:]}))',
        path.join(data, 'ci'),
        ...nodes,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(counts.status, 0, counts.stderr);
    pyarrowRows = JSON.parse(counts.stdout) as Record<string, number>;
  } else t.diagnostic('pyarrow is not importable by python3 here: node folders were checked by name only');
  assert.match(readFileSync(path.join(reportDir, 'dataset.md'), 'utf8'), /## Reward distributions/);

  // Recompute every claim from the committed Parquet and find its exact table in the report.
  const pipeline = loadPipeline(path.join(ROOT, 'pipelines/ci.yaml'), { dataRoot: data });
  const { conn } = await openViews(pipeline);
  for (const [n, count] of Object.entries(pyarrowRows ?? {})) {
    const [r] = await queryRows(conn, `SELECT count(*) AS n FROM "${n}"`);
    assert.equal(count, Number(r!.n), `pyarrow.dataset(${n}) reads ${count} rows, the node has ${r!.n}`);
  }
  const claims = await runClaims(conn, {
    evaluations: '"evaluate"',
    miro_train: '"train_miro"',
    baseline_train: '"train_baseline"',
    target_reward: 'colourfulness',
    best_of_reward: 'objects',
  });
  // The reward suite contradicts itself nowhere: no pair of targets correlates below -0.5, and
  // at least 1% of rows are in the top quarter of every image-only reward.
  const reports = new Map(listReports().map((r) => [r.name, r.sql]));
  const pairs = await queryRows(conn, reports.get('reward_target_correlations')!);
  assert.equal(pairs.length, 21);
  for (const p of pairs) assert.ok(Number(p.r) >= -0.5, `${p.reward} and ${p.other} correlate at ${p.r}`);
  const [high] = await queryRows(conn, reports.get('image_rewards_all_high')!);
  assert.equal(high!.image_rewards, 'cleanliness, colourfulness, contrast, sharpness');
  assert.ok(Number(high!.share) >= 0.01, `share of rows with every image target >= 0.75: ${high!.share}`);
  conn.closeSync();
  for (const c of claims) {
    assert.equal(c.error, null, `${c.id}: ${c.error}`);
    assert.ok(c.rows.length > 0, `${c.id} has no rows`);
    assert.ok(report.includes(formatMarkdown(c.rows)), `${c.id}: the report's table is not the query's result`);
  }
  const claimRows = await runCli(
    ['sql', 'pipelines/ci.yaml', 'SELECT count(*) AS n, count(*) FILTER (WHERE holds) AS hold FROM report', '--format', 'csv'],
    { env },
  );
  // 24 training steps draw noise: verdicts that do not flatter let no claim hold on it.
  assert.equal(claimRows.stdout.trim(), 'n,hold\n7,0');

  const second = await runCli(['run', 'pipelines/ci.yaml'], { env });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /done: 0 node\(s\) ran, 21 up to date/);
});

test('the CI pipeline has the same nodes and stage kinds as the demo', () => {
  const demo = loadPipeline(path.join(ROOT, 'pipelines/demo.yaml'), { dataRoot: '/tmp/unused' });
  const ci = loadPipeline(path.join(ROOT, 'pipelines/ci.yaml'), { dataRoot: '/tmp/unused' });
  assert.deepEqual(
    [...ci.nodes.values()].map((n) => [n.name, n.stage.kind, n.needs]),
    [...demo.nodes.values()].map((n) => [n.name, n.stage.kind, n.needs]),
  );
});
