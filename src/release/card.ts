// The dataset card (README.md) of a release: Hugging Face front matter (configs, features,
// license to fill in) and the reward distributions and bin edges, computed with DuckDB.

import { queryRows, type connect } from '../store/duck.js';
import type { ReleaseManifest } from '../store/release-manifest.js';
import { formatMarkdown } from '../util/table.js';

const HF_TYPES: Record<string, string> = {
  VARCHAR: 'string',
  DOUBLE: 'float64',
  INTEGER: 'int32',
  BIGINT: 'int64',
  BLOB: 'binary',
  BOOLEAN: 'bool',
};

export async function datasetCard(conn: Awaited<ReturnType<typeof connect>>, m: ReleaseManifest): Promise<string> {
  const data = m.files.find((f) => f.path.startsWith('data/'))!;
  const features = data.schema.map((c) => `  - name: ${c.name}\n    dtype: ${HF_TYPES[c.type] ?? 'string'}`).join('\n');
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
  return `---
license: other # FILL IN before publishing: the license of the source images and captions
pretty_name: ${m.name}
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
dataset_info:
  features:
${features}
  splits:
  - name: train
    num_examples: ${m.counts.rows}
---

# ${m.name}

A scored and binned dataset for MIRO (multi-reward conditioned pretraining), cut by \`miro release\`
from pipeline \`${m.pipeline.name}\` (seed ${m.pipeline.seed}, git ${m.tool.git_commit ?? 'unknown'}).

**License: not set.** The person releasing this dataset must fill in the \`license\` field above.

## How it was made

Each row is one image with its real caption (\`caption\`), a long synthetic caption
(\`caption_long\`), a short one (\`caption_short\`), and for each of ${m.rewards.length} rewards its raw
score (\`<reward>_score\`), bin (\`<reward>_bin\`) and training target (\`<reward>_target\` =
bin / (B - 1), B = ${m.bin_edges.num_bins}). A NULL score is a missing reward, not zero quality.
Edges are quantiles of the distinct scores of a calibration subset of ${m.bin_edges.calibration.rows}
rows (seed ${m.bin_edges.calibration.seed}); they are stored in \`bin_edges.parquet\` and \`release.json\`
and must not be recomputed. \`release.json\` records every node's parameters and fingerprint.

Rows: ${m.counts.rows}. Excluded because scoring failed: ${m.counts.excluded_failed}. Excluded by
the filter ${m.filter.where ? `\`${m.filter.where}\`` : '(none)'}: ${m.counts.excluded_by_where}.

## Reward distributions

${formatMarkdown(dist)}

## Bin edges

${formatMarkdown(edgeRows)}

## Loading

\`\`\`sql
SELECT * FROM read_parquet('${m.name}/data/*.parquet');   -- DuckDB
\`\`\`

With Hugging Face datasets: \`load_dataset("parquet", data_files="${m.name}/data/*.parquet")\`, or
\`load_dataset("path/to/${m.name}")\`, which reads the \`configs\` above. Check it with
\`miro verify ${m.name}\`.
`;
}
