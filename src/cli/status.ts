import { parseArgs } from 'node:util';
import { loadPipeline } from '../dag/pipeline.js';
import { planPipeline } from '../dag/planner.js';
import { MiroError } from '../errors.js';
import { formatTable } from '../util/table.js';

export default async function status(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    // --verify re-hashes every committed shard against its marker (without it: sizes only).
    options: { 'data-root': { type: 'string' }, verify: { type: 'boolean', default: false } },
  });
  if (!positionals[0]) throw new MiroError('status needs a pipeline file');
  const pipeline = loadPipeline(positionals[0], { dataRoot: values['data-root'] });
  const plans = await planPipeline(pipeline, { verify: values.verify });
  const rows = pipeline.order.map((name) => {
    const p = plans.get(name)!;
    const spec = pipeline.nodes.get(name)!;
    const current = [...p.markers.values()].filter((m) => m.fingerprint === p.fingerprint);
    const ok = current.reduce((a, m) => a + (m.stats.ok ?? 0), 0);
    const failed = current.reduce((a, m) => a + (m.stats.failed ?? 0), 0);
    return {
      node: name,
      kind: spec.stage.kind,
      shards: `${current.length}/${spec.shards}`,
      rows_ok: ok,
      rows_failed: failed,
      state: p.todo.size === 0 ? 'up to date' : 'stale',
      why: p.todo.size === 0 ? '' : p.reason,
    };
  });
  console.log(formatTable(rows));
  // Damaged shards, one line each, and a non-zero exit so scripts notice.
  const damaged = pipeline.order.flatMap((name) =>
    [...plans.get(name)!.todo]
      .filter(([, why]) => /^shard file (corrupted|missing)/.test(why))
      .map(([s, why]) => `${name} shard ${s}: ${why}`),
  );
  for (const d of damaged) console.log(`DAMAGED ${d}`);
  if (damaged.length) console.log(`${damaged.length} damaged shard(s): \`miro run ${positionals[0]} --verify\` re-makes them`);
  return damaged.length ? 1 : 0;
}
