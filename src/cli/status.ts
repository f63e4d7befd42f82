// `miro status PIPELINE`: per node, shards committed, rows ok and failed, and its state: running
// (with the lock's owner), failed (with the error), up to date, pending (never run) or stale (and
// why). Exits 1 when a node failed or a committed shard is damaged, so scripts notice.

import type { Command } from 'commander';
import { collect } from './args.js';
import { formatTable } from '../util/table.js';
import { setExitCode } from './exit.js';

export default function register(program: Command): void {
  program
    .command('status')
    .description(
      'per node: shards committed, rows ok and failed, running, failed, pending or stale and why (exit 1 on a failed or damaged node)',
    )
    .argument('<pipeline>', 'pipeline YAML')
    .option('--json', 'one JSON object per node, as an array')
    .option('--verify', 're-hash every committed shard against its marker (without it: sizes only)', false)
    .option('--data-root <dir>', 'where the pipeline wrote its data')
    .option('--set <key=value>', 'override a pipeline key, e.g. nodes.train_miro.with.steps=100 (repeatable; values read as YAML)', collect)
    .action(async (file: string, o: { json?: boolean; verify: boolean; dataRoot?: string; set?: string[] }) => {
      const { openPipeline } = await import('./pipeline.js');
      const { nodeStatuses } = await import('../dag/status.js');
      const pipeline = openPipeline(file, { dataRoot: o.dataRoot, set: o.set });
      const nodes = await nodeStatuses(pipeline, { verify: o.verify });
      if (o.json) console.log(JSON.stringify(nodes, null, 1));
      else {
        console.log(
          formatTable(
            nodes.map((n) => ({
              node: n.node,
              kind: n.kind,
              shards: `${n.shards_committed}/${n.shards}`,
              rows_ok: n.rows_ok,
              rows_failed: n.rows_failed,
              state: n.state,
              why: n.why,
            })),
          ),
        );
        // Damaged shards, one line each.
        const damaged = nodes.flatMap((n) => n.damaged.map((d) => `${n.node} ${d}`));
        for (const d of damaged) console.log(`DAMAGED ${d}`);
        if (damaged.length) console.log(`${damaged.length} damaged shard(s): \`miro run ${file} --verify\` re-makes them`);
      }
      if (nodes.some((n) => n.state === 'failed' || n.damaged.length)) setExitCode(1);
    });
}
