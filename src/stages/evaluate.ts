// `evaluate`: scores every generated sample with the same reward scorers (read against the
// sample's prompt), places each score on the dataset's reward scale (its bin target under the
// recorded edges, so rewards compare on one [0, 1] scale), and judges mini-GenEval prompts.

import { readFileSync } from 'node:fs';
import { p } from './params.js';
import { defineStage, type Column } from './types.js';
import { queryBatches, sqlFileList } from '../store/duck.js';
import { decodeImage } from '../util/image.js';
import { scoreImages } from '../eval/judge.js';
import { detect } from '../synth/detector.js';
import { judge, shuffledWithinTag, type GenevalPrompt } from '../synth/geneval.js';
import type { BinState } from '../store/markers.js';
import { binOf } from '../binning/search.js';
import { StageError } from '../errors.js';

export const evaluate = defineStage({
  kind: 'evaluate',
  version: 3,
  doc: 'Rewards, reward levels and mini-GenEval verdicts for every generated sample.',
  mode: 'global',
  ownProcess: true,
  params: {
    samples: p.list(p.string({ doc: 'a sample node' }), { doc: 'the sample nodes to evaluate', minItems: 1 }),
    bins: p.string({ doc: 'the bins node whose edges define reward levels' }),
    rewards: p.list(p.string({ doc: 'a reward' }), { doc: 'rewards to score (built-in scorers)', minItems: 1 }),
    geneval_file: p.string({ doc: 'the mini-GenEval prompt file', default: 'configs/geneval-mini.jsonl' }),
  },
  needs: { min: 2 },
  rowsCanFail: false,
  columns: (prm) => [
    { name: 'model', type: 'VARCHAR' },
    { name: 'variant', type: 'VARCHAR' },
    { name: 'setting', type: 'VARCHAR' },
    { name: 'prompt_id', type: 'VARCHAR' },
    { name: 'tag', type: 'VARCHAR' },
    { name: 'sample_index', type: 'INTEGER' },
    ...prm.rewards.flatMap((r): Column[] => [
      { name: r, type: 'DOUBLE' },
      { name: `${r}_level`, type: 'DOUBLE' },
    ]),
    { name: 'geneval_correct', type: 'BOOLEAN' },
    // The chance control: the same image judged against another prompt of its tag (half the tag
    // away), so each tag's accuracy is read against what the detector finds for that tag anyway.
    { name: 'geneval_shuffled_correct', type: 'BOOLEAN' },
  ],
  validate: (prm, needs) => {
    const missing = [...prm.samples, prm.bins].filter((n) => !needs.includes(n));
    return missing.length ? `${missing.join(', ')} must be in needs` : null;
  },
  identity: (prm) => ({ geneval: readFileSync(prm.geneval_file, 'utf8') }),

  async *run(ctx) {
    const prm = ctx.params;
    const state = (await ctx.inputs.manifestState(prm.bins)) as BinState | undefined;
    if (!state) throw new StageError(ctx.node, 0, `bins node ${prm.bins} has no recorded edges`);
    const prompts = readFileSync(prm.geneval_file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as GenevalPrompt);
    const geneval = new Map(prompts.map((q) => [q.id, q]));
    const shuffled = shuffledWithinTag(prompts);
    const files = prm.samples.flatMap((n) => ctx.inputs.files(n));
    let done = 0;
    for await (const b of queryBatches(
      ctx.duck,
      `SELECT id, model, variant, setting, prompt_id, prompt, tag, sample_index, image FROM read_parquet(${sqlFileList(files)}, union_by_name = true) ORDER BY id`,
      256,
    )) {
      const images = await Promise.all((b.columns.image as Uint8Array[]).map((bytes) => decodeImage(bytes)));
      const prompts = b.columns.prompt as string[];
      const scores = await scoreImages(images, prompts, prm.rewards);
      const columns: Record<string, unknown[]> = {};
      for (const c of ['id', 'model', 'variant', 'setting', 'prompt_id', 'tag', 'sample_index']) columns[c] = b.columns[c] as unknown[];
      for (const r of prm.rewards) {
        const s = scores[r] ?? images.map(() => null);
        const e = state.edges[r];
        columns[r] = s;
        columns[`${r}_level`] = s
          .map((v) => (e ? binOf(v, e.edges, state.num_bins) : null))
          .map((bin) => (bin === null ? null : bin / (state.num_bins - 1)));
      }
      const detections = images.map((img) => detect(img));
      const isPrompt = (id: string, i: number) => geneval.get(id)?.tag === (b.columns.tag as (string | null)[])[i];
      columns.geneval_correct = (b.columns.prompt_id as string[]).map((id, i) =>
        isPrompt(id, i) ? judge(geneval.get(id)!, detections[i]!) : null,
      );
      columns.geneval_shuffled_correct = (b.columns.prompt_id as string[]).map((id, i) =>
        isPrompt(id, i) ? judge(shuffled.get(id)!, detections[i]!) : null,
      );
      done += b.rows;
      ctx.progress(done);
      yield { rows: b.rows, columns: columns as never };
    }
  },
});
