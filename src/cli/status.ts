// `miro status PIPELINE`: per node, shards committed, rows ok and failed, and its state: running
// (with the lock's owner), failed (with the error), up to date, pending (never run) or stale (and
// why). Exits 1 when a node failed or a committed shard is damaged, so scripts notice.

import type { Command } from 'commander';
import { loadPipeline } from '../dag/pipeline.js';
import { planPipeline } from '../dag/planner.js';
import { layoutOf } from '../store/layout.js';
import { heldLocks } from '../store/lock.js';
import { readFailures } from '../store/markers.js';
import { formatTable } from '../util/table.js';
import { setExitCode } from './exit.js';

interface NodeStatus {
  node: string;
  kind: string;
  shards_committed: number;
  shards: number;
  rows_ok: number;
  rows_failed: number;
  state: 'running' | 'failed' | 'up to date' | 'pending' | 'stale';
  why: string;
  damaged: string[];
}

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
    .action(async (file: string, o: { json?: boolean; verify: boolean; dataRoot?: string }) => {
      const pipeline = loadPipeline(file, { dataRoot: o.dataRoot });
      const plans = await planPipeline(pipeline, { verify: o.verify });
      const nodes: NodeStatus[] = [];
      for (const name of pipeline.order) {
        const p = plans.get(name)!;
        const spec = pipeline.nodes.get(name)!;
        const layout = layoutOf(pipeline, name);
        const current = [...p.markers.values()].filter((m) => m.fingerprint === p.fingerprint);
        const running = (await heldLocks(layout.lockDir())).filter((l) => l.alive !== false && /rank-/.test(l.file));
        const failures = (await readFailures(layout)).filter((f) => f.fingerprint === p.fingerprint);
        const damaged = [...p.todo]
          .filter(([, why]) => /^shard file (corrupted|missing)/.test(why))
          .map(([s, why]) => `shard ${s}: ${why}`);
        let state: NodeStatus['state'];
        let why: string;
        if (running.length) {
          state = 'running';
          why = running.map((l) => `${l.owner.what}: process ${l.owner.pid} on ${l.owner.host} since ${l.owner.since}`).join('; ');
        } else if (failures.length) {
          state = 'failed';
          why = failures.map((f) => `rank ${f.rank}/${f.world} at ${f.at}: ${f.error}`).join('; ');
        } else if (p.todo.size === 0 && !p.prepare) [state, why] = ['up to date', ''];
        else if (!p.manifest && p.markers.size === 0) [state, why] = ['pending', p.reason];
        else [state, why] = ['stale', p.reason];
        nodes.push({
          node: name,
          kind: spec.stage.kind,
          shards_committed: current.length,
          shards: spec.shards,
          rows_ok: current.reduce((a, m) => a + (m.stats.ok ?? 0), 0),
          rows_failed: current.reduce((a, m) => a + (m.stats.failed ?? 0), 0),
          state,
          why,
          damaged,
        });
      }
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
