import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { loadPipeline } from '../dag/pipeline.js';
import { runPipeline } from '../dag/runner.js';
import { MiroError } from '../errors.js';

export default async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      only: { type: 'string', multiple: true },
      from: { type: 'string', multiple: true },
      force: { type: 'string', multiple: true },
      'retry-failed': { type: 'string', multiple: true },
      'dry-run': { type: 'boolean' },
      // Re-hash committed shards against their markers and re-make the damaged ones.
      verify: { type: 'boolean', default: false },
      rank: { type: 'string', default: '0' },
      world: { type: 'string', default: '1' },
      // Nodes at once: one per core (at least 2), so a bigger machine trains and samples in parallel.
      jobs: { type: 'string', default: String(Math.max(2, availableParallelism())) },
      'data-root': { type: 'string' },
      // How long to wait for another rank's prepare or shards before giving up (seconds).
      'wait-timeout': { type: 'string', default: String(6 * 3600) },
    },
  });
  const file = positionals[0];
  if (!file) throw new MiroError('run needs a pipeline file, e.g. miro run pipelines/demo.yaml');
  const pipeline = loadPipeline(file, { dataRoot: values['data-root'] });
  for (const flag of ['only', 'from', 'force', 'retry-failed'] as const) {
    for (const n of values[flag] ?? [])
      if (!pipeline.nodes.has(n)) throw new MiroError(`--${flag} ${n}: no such node in ${file} (nodes: ${pipeline.order.join(', ')})`);
  }
  const int = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new MiroError(`--${name} expects a non-negative integer, got ${v}`);
    return n;
  };
  const { plans, outcomes } = await runPipeline(pipeline, {
    only: values.only,
    from: values.from,
    force: values.force,
    retryFailed: values['retry-failed'],
    verify: values.verify,
    dryRun: values['dry-run'],
    rank: int('rank', values.rank!),
    world: Math.max(1, int('world', values.world!)),
    jobs: Math.max(1, int('jobs', values.jobs!)),
    waitTimeoutMs: int('wait-timeout', values['wait-timeout']!) * 1000,
  });
  if (values['dry-run']) {
    const rank = int('rank', values.rank!);
    const world = Math.max(1, int('world', values.world!));
    const width = Math.max(...pipeline.order.map((n) => n.length)) + 2;
    for (const name of pipeline.order) {
      const p = plans.get(name)!;
      const spec = pipeline.nodes.get(name)!;
      const mine = [...p.todo.keys()].filter((s) => s % world === rank);
      const what = mine.length || p.retry.length ? `run ${mine.length + p.retry.length}/${spec.shards} shard(s)` : 'skip';
      console.log(`${name.padEnd(width)}${spec.stage.kind.padEnd(15)}${what.padEnd(23)}${p.reason}`);
    }
    return 0;
  }
  const ran = outcomes.filter((o) => o.status === 'ran');
  console.error(
    `done: ${ran.length} node(s) ran, ${outcomes.length - ran.length} up to date. Data: ${pipeline.settings.dataRoot}/${pipeline.settings.name}`,
  );
  return 0;
}
