import { parseArgs } from 'node:util';
import { loadPipeline } from '../dag/pipeline.js';
import { cutRelease } from '../release/release.js';
import { MiroError } from '../errors.js';

export default async function release(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      where: { type: 'string' },
      images: { type: 'string', default: 'embed' },
      'include-failed': { type: 'boolean' },
      'shard-rows': { type: 'string', default: '10000' },
      bins: { type: 'string' },
      'data-root': { type: 'string' },
    },
  });
  if (!positionals[0] || !values.out)
    throw new MiroError('usage: miro release PIPELINE --out releases/NAME [--where "SQL"] [--images embed|path] [--include-failed]');
  if (values.images !== 'embed' && values.images !== 'path') throw new MiroError(`--images expects embed or path, got ${values.images}`);
  const shardRows = Number(values['shard-rows']);
  if (!Number.isInteger(shardRows) || shardRows < 1) throw new MiroError(`--shard-rows expects a positive integer`);
  const pipeline = loadPipeline(positionals[0], { dataRoot: values['data-root'] });
  const m = await cutRelease(pipeline, {
    out: values.out,
    where: values.where,
    images: values.images,
    includeFailed: values['include-failed'],
    shardRows,
    bins: values.bins,
  });
  console.log(
    `release ${values.out}: ${m.counts.rows} rows in ${m.files.length - 1} data file(s); excluded ${m.counts.excluded_failed} failed, ${m.counts.excluded_by_where} by --where`,
  );
  return 0;
}
