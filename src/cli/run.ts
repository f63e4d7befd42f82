// `miro run PIPELINE`: runs what is stale, in dependency order, resuming where a run stopped.

import { availableParallelism } from 'node:os';
import { Option, type Command } from 'commander';
import type { ChildRunOptions } from '../dag/child.js';
import { MiroError, UsageError } from '../errors.js';
import { suggestion } from '../util/suggest.js';
import { collect, int } from './args.js';
import { rankAndWorld } from './scheduler.js';
import { environmentSeconds } from './environment.js';

interface RunOptions {
  set?: string[];
  only?: string[];
  from?: string[];
  force?: string[];
  retryFailed?: string[];
  dryRun?: boolean;
  mapOnly?: boolean;
  verify: boolean;
  rank?: number;
  world?: number;
  jobs: number;
  dataRoot?: string;
  waitTimeout: number;
  lockLease?: number;
  childOptions?: string;
  forceName?: boolean;
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
    .option(
      '--map-only',
      "run only the source and map nodes that no global node feeds (a job array's part; the global nodes run in a job after it)",
    )
    .option('--verify', 're-hash committed shards against their markers and re-make the damaged ones', false)
    .option('--force-name', "run although another pipeline file has run under this pipeline's name (its data becomes this file's)")
    .option(
      '--rank <i>',
      'this process takes shards with shard % world == rank (default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, else 0)',
      int({ min: 0 }),
    )
    .option('--world <n>', 'number of cooperating processes (default: from SLURM_ARRAY_TASK_COUNT or MIRO_WORLD, else 1)', int({ min: 1 }))
    .option('--jobs <k>', 'nodes at once (default here: one per core, at least 2)', int({ min: 1 }), Math.max(2, availableParallelism()))
    .option(
      '--lock-lease <seconds>',
      'a lock from another host whose heartbeat is older than this is taken over (default: MIRO_LOCK_LEASE, else 600)',
      int({ min: 1 }),
    )
    .option('--data-root <dir>', 'where pipelines write (overrides settings.data_root and MIRO_DATA_ROOT)')
    .option('--set <key=value>', 'override a pipeline key, e.g. nodes.train_miro.with.steps=100 (repeatable; values read as YAML)', collect)
    .option('--wait-timeout <seconds>', "how long to wait for another rank's prepare or shards", int({ min: 0 }), 6 * 3600)
    // A parent run hands a child process its options whole (src/dag/child.ts); not for people.
    .addOption(new Option('--child-options <json>').hideHelp())
    .action(async (file: string, o: RunOptions) => {
      const { openPipeline } = await import('./pipeline.js');
      const { runPipeline } = await import('../dag/runner.js');
      if (o.childOptions) {
        const child = JSON.parse(o.childOptions) as ChildRunOptions;
        await runPipeline(openPipeline(file, { dataRoot: child.dataRoot, set: child.set }), child.run);
        return;
      }
      const lease = o.lockLease ?? environmentSeconds('MIRO_LOCK_LEASE');
      const { rank, world, source } = rankAndWorld({ rank: o.rank, world: o.world });
      if (source !== 'defaults') console.error(`rank ${rank} of ${world} (${source})`);
      const pipeline = openPipeline(file, { dataRoot: o.dataRoot, set: o.set });
      for (const [flag, names] of [
        ['only', o.only],
        ['from', o.from],
        ['force', o.force],
        ['retry-failed', o.retryFailed],
      ] as const) {
        for (const n of names ?? [])
          if (!pipeline.nodes.has(n))
            throw new UsageError(
              `--${flag} ${n}: no such node in ${file}${suggestion(n, pipeline.order)} (nodes: ${pipeline.order.join(', ')})`,
            );
      }
      // A job array's part: the source and map nodes that no global node feeds; the rest runs after.
      if (o.mapOnly) {
        const scattered = new Set<string>();
        for (const n of pipeline.order) {
          const spec = pipeline.nodes.get(n)!;
          if (spec.stage.mode !== 'global' && spec.needs.every((d) => scattered.has(d))) scattered.add(n);
        }
        o.only = (o.only ?? pipeline.order).filter((n) => scattered.has(n));
        if (o.only.length === 0) throw new MiroError('--map-only: no source or map node to run before the first global node');
      }
      const { plans, outcomes } = await runPipeline(pipeline, {
        only: o.only,
        from: o.from,
        force: o.force,
        retryFailed: o.retryFailed,
        verify: o.verify,
        dryRun: o.dryRun,
        rank,
        world,
        jobs: o.jobs,
        waitTimeoutMs: o.waitTimeout * 1000,
        lockLeaseMs: lease === undefined ? undefined : lease * 1000,
        forceName: o.forceName,
      });
      if (o.dryRun) {
        const width = Math.max(...pipeline.order.map((n) => n.length)) + 2;
        for (const name of pipeline.order) {
          const p = plans.get(name)!;
          const spec = pipeline.nodes.get(name)!;
          const mine = [...p.todo.keys()].filter((s) => s % world === rank);
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
