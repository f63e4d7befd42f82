import { parseArgs } from 'node:util';
import { loadPipeline } from '../dag/pipeline.js';
import { planPipeline } from '../dag/planner.js';
import { MiroError } from '../errors.js';
import { formatTable } from '../util/table.js';

export default async function status(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { 'data-root': { type: 'string' } } });
  if (!positionals[0]) throw new MiroError('status needs a pipeline file');
  const pipeline = loadPipeline(positionals[0], { dataRoot: values['data-root'] });
  const plans = await planPipeline(pipeline);
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
  return 0;
}
