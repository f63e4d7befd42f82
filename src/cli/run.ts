// `miro run PIPELINE`: runs what is stale, in dependency order, resuming where a run stopped.

import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { loadPipeline } from '../dag/pipeline.js';
import { runPipeline } from '../dag/runner.js';
import { MiroError } from '../errors.js';
import { suggestion } from '../util/suggest.js';
import { collect, int } from './args.js';

interface RunOptions {
  only?: string[];
  from?: string[];
  force?: string[];
  retryFailed?: string[];
  dryRun?: boolean;
  verify: boolean;
  rank: number;
  world: number;
  jobs: number;
  dataRoot?: string;
  waitTimeout: number;
}

export default function register(program: Command): void {
  program
    .command('run')
    .description('run a pipeline: every stale node, in dependency order, resuming where a run stopped')
    .argument('<pipeline>', 'pipeline YAML, e.g. pipelines/demo.yaml')
    .option('--only <node>', 'run only this node (repeatable)', collect)
    .option('--from <node>', 'run this node and everything downstream of it (repeatable)', collect)
    .option('--force <node>', 're-run this node even if up to date (repeatable)', collect)
    .option('--retry-failed <node>', "re-run only this node's failed rows (repeatable)", collect)
    .option('--dry-run', 'print what would run and why, and run nothing')
    .option('--verify', 're-hash committed shards against their markers and re-make the damaged ones', false)
    .option('--rank <i>', 'this process takes shards with shard % world == rank', int({ min: 0 }), 0)
    .option('--world <n>', 'number of cooperating processes (ranks)', int({ min: 1 }), 1)
    .option('--jobs <k>', 'nodes at once (default here: one per core, at least 2)', int({ min: 1 }), Math.max(2, availableParallelism()))
    .option('--data-root <dir>', 'where pipelines write (overrides settings.data_root and MIRO_DATA_ROOT)')
    .option('--wait-timeout <seconds>', "how long to wait for another rank's prepare or shards", int({ min: 0 }), 6 * 3600)
    .action(async (file: string, o: RunOptions) => {
      if (o.rank >= o.world) throw new MiroError(`--rank ${o.rank} must be below --world ${o.world}`);
      const pipeline = loadPipeline(file, { dataRoot: o.dataRoot });
      for (const [flag, names] of [
        ['only', o.only],
        ['from', o.from],
        ['force', o.force],
        ['retry-failed', o.retryFailed],
      ] as const) {
        for (const n of names ?? [])
          if (!pipeline.nodes.has(n))
            throw new MiroError(
              `--${flag} ${n}: no such node in ${file}${suggestion(n, pipeline.order)} (nodes: ${pipeline.order.join(', ')})`,
            );
      }
      const { plans, outcomes } = await runPipeline(pipeline, {
        only: o.only,
        from: o.from,
        force: o.force,
        retryFailed: o.retryFailed,
        verify: o.verify,
        dryRun: o.dryRun,
        rank: o.rank,
        world: o.world,
        jobs: o.jobs,
        waitTimeoutMs: o.waitTimeout * 1000,
      });
      if (o.dryRun) {
        const width = Math.max(...pipeline.order.map((n) => n.length)) + 2;
        for (const name of pipeline.order) {
          const p = plans.get(name)!;
          const spec = pipeline.nodes.get(name)!;
          const mine = [...p.todo.keys()].filter((s) => s % o.world === o.rank);
          const what = mine.length || p.retry.length ? `run ${mine.length + p.retry.length}/${spec.shards} shard(s)` : 'skip';
          console.log(`${name.padEnd(width)}${spec.stage.kind.padEnd(15)}${what.padEnd(23)}${p.reason}`);
        }
        return;
      }
      const ran = outcomes.filter((x) => x.status === 'ran');
      const reportNode = pipeline.order.find((n) => pipeline.nodes.get(n)!.stage.kind === 'report');
      console.error(
        `done: ${ran.length} node(s) ran, ${outcomes.length - ran.length} up to date. Data: ${pipeline.settings.dataRoot}/${pipeline.settings.name}` +
          (reportNode ? `. Report: ${pipeline.settings.reportDir}/report.md` : ''),
      );
    });
}
