// `miro release PIPELINE --out releases/NAME`: a versioned, verifiable dataset release.

import type { Command } from 'commander';
import { Option } from 'commander';
import { int, collect } from './args.js';
import { MiroError, UsageError } from '../errors.js';
import { HUB_LICENSES } from '../release/licenses.js';
import { suggestion } from '../util/suggest.js';

interface ReleaseOptions {
  set?: string[];
  out: string;
  where?: string;
  images: 'embed' | 'path';
  format: 'parquet' | 'webdataset';
  includeFailed?: boolean;
  shardRows: number;
  bins?: string;
  license?: string;
  dataRoot?: string;
}

export default function register(program: Command): void {
  program
    .command('release')
    .description('cut a release: Parquet parts, a dataset card and release.json with every file hashed')
    .argument('<pipeline>', 'pipeline YAML')
    .requiredOption('--out <dir>', 'release folder to write, e.g. releases/v1')
    .option('--where <sql>', 'keep rows matching this SQL expression over the release columns')
    .addOption(new Option('--images <how>', 'image bytes in the Parquet, or files beside it').choices(['embed', 'path']).default('embed'))
    .addOption(
      new Option('--format <format>', "Parquet parts, or webdataset tar shards in the official MIRO trainer's layout")
        .choices(['parquet', 'webdataset'])
        .default('parquet'),
    )
    .option('--include-failed', 'keep rows with a failed score (their reward is NULL)')
    .option('--shard-rows <n>', 'rows per Parquet part', int({ min: 1 }), 10000)
    .option('--bins <node>', 'the bins node to release (default: the only one)')
    .option('--license <id>', 'license for the card: an SPDX id (cc-by-4.0), other:<name>, or unset to leave it for later')
    .option('--data-root <dir>', 'where the pipeline wrote its data')
    .option('--set <key=value>', 'override a pipeline key, e.g. nodes.train_miro.with.steps=100 (repeatable; values read as YAML)', collect)
    .action(async (file: string, o: ReleaseOptions) => {
      const { openPipeline } = await import('./pipeline.js');
      const { cutRelease } = await import('../release/release.js');
      if (!o.license)
        throw new MiroError(
          'give --license: the license of the released images and captions, as an SPDX id (e.g. cc-by-4.0) or other:<name>; --license unset leaves it for later, marked in the card',
        );
      if (o.license !== 'unset' && !o.license.startsWith('other:') && !HUB_LICENSES.has(o.license))
        throw new UsageError(
          `--license ${o.license}: not a license id the Hugging Face Hub knows${suggestion(o.license, HUB_LICENSES)}; use one of its ids (cc-by-4.0, cc0-1.0, mit, ...), other:<name>, or unset`,
        );
      const pipeline = openPipeline(file, { dataRoot: o.dataRoot, set: o.set });
      const m = await cutRelease(pipeline, {
        out: o.out,
        where: o.where,
        images: o.images,
        includeFailed: o.includeFailed,
        shardRows: o.shardRows,
        bins: o.bins,
        license: o.license === 'unset' ? null : o.license,
        format: o.format,
      });
      console.log(
        `release ${o.out}: ${m.counts.rows} rows in ${m.files.filter((f) => f.path.startsWith('data/')).length} data file(s); excluded ${m.counts.excluded_failed} failed, ${m.counts.excluded_by_where} by --where`,
      );
    });
}
