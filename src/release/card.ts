// The dataset card (README.md) of a release: Hugging Face front matter built as data (features
// with the image column as `image`, the Hub's metadata fields, a config for the rows and one for
// the bin edges, the license the releaser gave), then the reward distributions and bin edges,
// computed with DuckDB.

import { stringify } from 'yaml';
import { queryRows, type connect } from '../store/duck.js';
import type { ReleaseManifest } from '../store/release-manifest.js';
import { formatMarkdown } from '../util/table.js';

const HF_TYPES: Record<string, string> = {
  VARCHAR: 'string',
  DOUBLE: 'float64',
  FLOAT: 'float32',
  INTEGER: 'int32',
  BIGINT: 'int64',
  BLOB: 'binary',
  BOOLEAN: 'bool',
};

/** Hugging Face `datasets` features for a release's columns: the image struct as an Image, the rest as Values. */
export function hfFeatures(schema: Record<string, unknown>[]): Record<string, unknown> {
  return Object.fromEntries(
    schema.map((c) => {
      const type = String(c.type);
      if (type.startsWith('STRUCT(bytes BLOB')) return [String(c.name), { _type: 'Image' }];
      return [String(c.name), { dtype: HF_TYPES[type] ?? 'string', _type: 'Value' }];
    }),
  );
}

/** The Hub's size buckets. */
export function sizeCategory(n: number): string {
  const buckets: [number, string][] = [
    [1e3, 'n<1K'],
    [1e4, '1K<n<10K'],
    [1e5, '10K<n<100K'],
    [1e6, '100K<n<1M'],
    [1e7, '1M<n<10M'],
    [1e8, '10M<n<100M'],
    [1e9, '100M<n<1B'],
  ];
  return buckets.find(([limit]) => n < limit)?.[1] ?? 'n>1T';
}

/** The front matter as data: what the Hub's dataset viewer and `datasets.load_dataset` read. */
export function cardMetadata(m: ReleaseManifest): Record<string, unknown> {
  const data = m.files.find((f) => f.path.startsWith('data/'))!;
  const edges = m.files.find((f) => f.path === 'bin_edges.parquet');
  // Embedded image bytes load as images, not bytes; a path column stays a string.
  const dtype = (name: string, type: string) => (name === 'image' && m.images === 'embed' ? 'image' : (HF_TYPES[type] ?? 'string'));
  const license =
    m.license === null
      ? { license: 'other', license_name: 'unset', license_link: 'LICENSE' }
      : m.license.startsWith('other:')
        ? { license: 'other', license_name: m.license.slice('other:'.length) }
        : { license: m.license };
  const tars = m.layout === 'webdataset';
  return {
    ...license,
    pretty_name: `${m.pipeline.name}: images scored and binned for MIRO (${m.rewards.length} rewards)`,
    task_categories: ['text-to-image'],
    language: ['en'],
    size_categories: [sizeCategory(m.counts.rows)],
    tags: ['miro', 'reward-conditioning', 'synthetic-captions', ...m.rewards],
    configs: [
      { config_name: 'default', default: true, data_files: [{ split: 'train', path: tars ? 'data/train-*.tar' : 'data/train-*.parquet' }] },
      ...(edges ? [{ config_name: 'bin_edges', data_files: [{ split: 'train', path: 'bin_edges.parquet' }] }] : []),
    ],
    dataset_info: [
      {
        config_name: 'default',
        // A webdataset's features are its members, which the Hub reads from the tars themselves.
        ...(tars ? {} : { features: data.schema.map((c) => ({ name: c.name, dtype: dtype(c.name, c.type) })) }),
        splits: [{ name: 'train', num_examples: m.counts.rows }],
      },
      ...(edges
        ? [
            {
              config_name: 'bin_edges',
              features: edges.schema.map((c) => ({ name: c.name, dtype: HF_TYPES[c.type] ?? 'string' })),
              splits: [{ name: 'train', num_examples: edges.rows }],
            },
          ]
        : []),
    ],
  };
}

export async function datasetCard(conn: Awaited<ReturnType<typeof connect>>, m: ReleaseManifest): Promise<string> {
  const pick = (suffix: string) => m.rewards.map((r) => `"${r}_${suffix}" AS "${r}"`).join(', ');
  const dist = await queryRows(
    conn,
    `WITH s AS (UNPIVOT (SELECT id, ${pick('score')} FROM release_rows) ON COLUMNS(* EXCLUDE id) INTO NAME reward VALUE score),
          t AS (UNPIVOT (SELECT id, ${pick('target')} FROM release_rows) ON COLUMNS(* EXCLUDE id) INTO NAME reward VALUE target)
     SELECT reward, count(score) AS scored, round(min(score), 4) AS min, round(median(score), 4) AS median, round(max(score), 4) AS max, round(avg(target), 3) AS mean_target
     FROM s LEFT JOIN t USING (id, reward) GROUP BY reward ORDER BY reward`,
  );
  const edgeRows = m.rewards.map((r) => {
    const e = m.bin_edges.edges[r]!;
    return {
      reward: r,
      method: e.method,
      distinct_values: e.distinct_values,
      inner_edges: e.edges
        .slice(1, -1)
        .map((x) => Number(x.toPrecision(4)))
        .join(', '),
    };
  });
  const licenseLine =
    m.license === null
      ? '**License: not set.** The release was cut with `--license unset`: fill in `license` above (and `license_name` for `other`) before publishing.'
      : `License: \`${m.license}\`, as given by the person who cut the release. The source images and captions keep their own terms.`;
  return `---
${stringify(cardMetadata(m), { lineWidth: 0 }).trimEnd()}
---

# ${m.name}

A scored and binned dataset for MIRO (multi-reward conditioned pretraining), cut by \`miro release\`
from pipeline \`${m.pipeline.name}\` (seed ${m.pipeline.seed}, git ${m.tool.git_commit ?? 'unknown'}).

${licenseLine}

## How it was made

Each row is one image with its real caption (\`caption\`), a long synthetic caption
(\`caption_long\`), a short one (\`caption_short\`), and for each of ${m.rewards.length} rewards its raw
score (\`<reward>_score\`), bin (\`<reward>_bin\`) and training target (\`<reward>_target\` =
bin / (B - 1), B = ${m.bin_edges.num_bins}). A NULL score is a missing reward, not zero quality.
Edges are quantiles of the distinct scores of a calibration subset of ${m.bin_edges.calibration.rows}
rows (seed ${m.bin_edges.calibration.seed}); they are stored in \`bin_edges.parquet\` (the \`bin_edges\`
config) and \`release.json\`, and must not be recomputed. \`release.json\` records every node's
parameters and fingerprint and the sha256 of every file${m.images === 'path' ? ` (the images' in \`images.parquet\`)` : ''}.

${
  m.files.some((f) => f.path === 'examples.png')
    ? `![${m.files.find((f) => f.path === 'examples.png')!.rows} of the released images](examples.png)

`
    : ''
}Rows: ${m.counts.rows}. Excluded because scoring failed: ${m.counts.excluded_failed}. Excluded by
the filter ${m.filter.where ? `\`${m.filter.where}\`` : '(none)'}: ${m.counts.excluded_by_where}.

## Reward distributions

${formatMarkdown(dist)}

## Bin edges

${formatMarkdown(edgeRows)}

## Loading

${
  m.layout === 'webdataset'
    ? `Webdataset tar shards in the official MIRO trainer's layout: per sample \`jpg\`, \`txt\` (the real caption), \`json\`
(scores under the official keys and scalings, the synthetic captions, and this release's bins and targets under
\`miro\`) and, where the pipeline computed them, the VAE latents and text-encoder states as \`.npy\` (float16).
With webdataset: \`wds.WebDataset("${m.name}/data/train-{00000..${String(m.files.filter((f) => f.path.endsWith('.tar')).length - 1).padStart(5, '0')}}-of-${String(m.files.filter((f) => f.path.endsWith('.tar')).length).padStart(5, '0')}.tar")\`.`
    : `\`\`\`sql
SELECT * FROM read_parquet('${m.name}/data/*.parquet');   -- DuckDB
\`\`\`

With Hugging Face datasets: \`load_dataset("path/to/${m.name}")\` reads the \`configs\` above
(${m.images === 'embed' ? 'the \`image\` column loads as images' : 'the \`image\` column is a path relative to the release folder'};
\`load_dataset("path/to/${m.name}", "bin_edges")\` gives the edges).`
}
Check it with \`miro verify ${m.name}\`.

## Limitations

- Scores are what the reward models say, with their biases: aesthetic and preference models
  reward what their training raters liked, and image-text scores read the captions, which a
  vision-language model wrote and may get wrong. A bin is a rank among these images, not an
  absolute quality.
- The edges are quantiles of this dataset: bins of another release are not comparable unless it
  was cut with the same edges.
- Failed rows are left out (see the counts above), so a filter on images that fail to decode or
  score changes what the release represents.

## Citation

\`\`\`bibtex
@article{dufour2025miro,
  title   = {MIRO: MultI-Reward cOnditioned pretraining improves T2I quality and efficiency},
  author  = {Dufour, Nicolas and others},
  journal = {arXiv preprint arXiv:2510.25897},
  year    = {2025}
}
\`\`\`
`;
}
