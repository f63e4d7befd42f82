// The paper's four scorer kinds on real ONNX Runtime sessions over tiny models the tests build:
// preprocessing, tokenisation, batching, each score formula, and clear errors for bad files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tmpDir, runCli, writePipeline, sql, writeImageFolder } from './helpers.ts';
import { writeRewardModels, W_IMAGE, E_TEXT, D, MLP, JOINT_V, VOCAB } from './onnx-fixtures.ts';
import { loadScorer, type Scorer } from '../src/scorers/index.ts';
import { preprocess } from '../src/scorers/onnx/preprocess.ts';
import { PaddedTokenizer } from '../src/onnx/tokenizer.ts';
import type { RGBImage } from '../src/util/image.ts';

/** A reward model through the `onnx:` prefix; ONNX scorers give numbers (or null), never row errors. */
const onnxScorer = async (config: string) => (await loadScorer(`onnx:${config}`)) as Scorer;

const dir = tmpDir('miro-onnx-');
const configs = await writeRewardModels(dir);

const flat = (rgb: [number, number, number], w = 4, h = 4): RGBImage => ({
  width: w,
  height: h,
  data: Float32Array.from({ length: w * h * 3 }, (_, i) => rgb[i % 3]!),
});
const close = (a: number, b: number, tol = 1e-4) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

// Hand computation of the tiny models.
const normPixel = (rgb: number[]) => rgb.map((v) => (v / 255 - 0.5) / 0.25);
const imageEmbed = (rgb: number[]) => {
  const m = normPixel(rgb);
  return Array.from({ length: D }, (_, d) => m.reduce((s, x, c) => s + x * W_IMAGE[c * D + d]!, 0));
};
const textEmbed = (ids: number[]) => Array.from({ length: D }, (_, d) => ids.reduce((s, id) => s + E_TEXT[id * D + d]!, 0));
const ids = (text: string) => [
  1,
  ...text
    .toLowerCase()
    .split(/\s+/)
    .map((w) => VOCAB.indexOf(w)),
  2,
];
const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
const dotp = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

test('preprocessing: normalisation to CHW, and a centre crop of the short side', async () => {
  const px = await preprocess(flat([255, 0, 128]), 4, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]);
  assert.equal(px.length, 3 * 16);
  close(px[0]!, 2); // (1 - 0.5) / 0.25
  close(px[16]!, -2);
  close(px[32]!, (128 / 255 - 0.5) / 0.25);
  // 8 x 4: columns of four colours, two pixels each; the 4 x 4 centre keeps the middle two.
  const cols = [
    [10, 10, 10],
    [60, 60, 60],
    [110, 110, 110],
    [200, 200, 200],
  ];
  const wide: RGBImage = {
    width: 8,
    height: 4,
    data: Float32Array.from({ length: 8 * 4 * 3 }, (_, i) => cols[Math.floor((((i / 3) | 0) % 8) / 2)]![i % 3]!),
  };
  const cropped = await preprocess(wide, 4, [0, 0, 0], [1, 1, 1]);
  assert.deepEqual(
    Array.from(cropped.subarray(0, 4), (v) => Math.round(v * 255)),
    [60, 60, 110, 110],
  );
});

test('tokenisation pads to max_tokens and keeps EOS last when a caption is truncated', async () => {
  const tok = await PaddedTokenizer.load(path.join(dir, 'model/tokenizer.json'), 6, 2, 0);
  const { ids: a, mask } = tok.encode(['a red circle', 'a red circle a blue square two']);
  assert.deepEqual(Array.from(a, Number), [1, 4, 5, 7, 2, 0, 1, 4, 5, 7, 4, 2]);
  assert.deepEqual(Array.from(mask, Number), [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]);
});

test('clip: scale x cosine of the image and text embeddings', async () => {
  const scorer = await onnxScorer(configs.clip);
  const [s] = await scorer.score([{ image: flat([200, 30, 90]), caption: 'a blue square' }]);
  close(s!, 100 * dotp(unit(imageEmbed([200, 30, 90])), unit(textEmbed(ids('a blue square')))));
});

test('clip-mlp: the aesthetic MLP on the L2-normalised image embedding', async () => {
  const scorer = await onnxScorer(configs.clipMlp);
  const [s] = await scorer.score([{ image: flat([20, 220, 90]), caption: null }]);
  const v = unit(imageEmbed([20, 220, 90]));
  const h = [0, 1, 2].map((o) => dotp(MLP.w0.slice(o * D, (o + 1) * D), v) + MLP.b0[o]!);
  close(s!, dotp(MLP.w1, h) + MLP.b1[0]!);
});

test('blip-reward: (r - 0.16717362830052426) / 1.0333394966054072', async () => {
  const scorer = await onnxScorer(configs.blip);
  const [s] = await scorer.score([{ image: flat([90, 90, 250]), caption: 'two red circle' }]);
  const joint = imageEmbed([90, 90, 250]).map((x, d) => x * textEmbed(ids('two red circle'))[d]!);
  const r = dotp(joint, JOINT_V(1));
  close(s!, (r - 0.16717362830052426) / 1.0333394966054072);
});

test('vqa: probability of the "Yes" token for the VQAScore question', async () => {
  const scorer = await onnxScorer(configs.vqa);
  const [s] = await scorer.score([{ image: flat([120, 40, 40]), caption: 'a red circle' }]);
  // The question, tokenised as the scorer does (punctuation outside the vocabulary counts as padding).
  const tok = await PaddedTokenizer.load(path.join(dir, 'model/tokenizer.json'), 16, 2, 0);
  const enc = tok.encode(['Does this figure show "a red circle"? Please answer yes or no.']);
  const q = Array.from(enc.ids, Number).filter((_, k) => enc.mask[k] === 1n);
  assert.equal(q.at(-1), 2, 'EOS kept at the end of the truncated question');
  const joint = imageEmbed([120, 40, 40]).map((x, d) => x * textEmbed(q)[d]!);
  const V = JOINT_V(VOCAB.length);
  const logits = VOCAB.map((_, k) => joint.reduce((acc, x, d) => acc + x * V[d * VOCAB.length + k]!, 0));
  const m = Math.max(...logits);
  close(s!, Math.exp(logits[17]! - m) / logits.reduce((acc, x) => acc + Math.exp(x - m), 0));
  assert.ok(s! > 0 && s! < 1);
});

test('batching: five images in batches of two score as they do one by one', async () => {
  const scorer = await onnxScorer(configs.clip);
  const batch = [0, 1, 2, 3, 4].map((i) => ({
    image: flat([40 * i, 200 - 30 * i, 17 * i]),
    caption: i % 2 ? 'a red circle' : 'two blue square',
  }));
  const together = await scorer.score(batch);
  const alone: (number | null)[] = [];
  for (const b of batch) alone.push(...(await scorer.score([b])));
  together.forEach((v, i) => close(v!, alone[i]!, 1e-5));
});

test('a missing or corrupt model file is an error that names the file', async () => {
  const broken = tmpDir('miro-onnx-broken-');
  const cfgs = await writeRewardModels(broken);
  await fs.rm(path.join(broken, 'model/onnx/text_model.onnx'));
  await assert.rejects(
    loadScorer(`onnx:${cfgs.clip}`),
    /model file .*model\/onnx\/text_model\.onnx is missing \(files\.text in .*clip\.yaml\)/,
  );
  await fs.writeFile(path.join(broken, 'model/onnx/vision_model.onnx'), 'not a model');
  await assert.rejects(loadScorer(`onnx:${cfgs.clipMlp}`), /cannot load .*model\/onnx\/vision_model\.onnx \(files\.vision\)/);
  await fs.writeFile(
    path.join(broken, 'pickled.yaml'),
    'kind: clip-mlp\nmodel_dir: model\nfiles: {vision: onnx/v.onnx, mlp: sac+logos+ava1-l14-linearMSE.pth}\n',
  );
  await assert.rejects(loadScorer(`onnx:${path.join(broken, 'pickled.yaml')}`), /files\.mlp\.path: pickled checkpoints are never loaded/);
});

test('the score stage runs an ONNX scorer in a pipeline', async () => {
  const work = tmpDir();
  await writeImageFolder(path.join(work, 'images'), 10);
  const file = await writePipeline(
    work,
    'ox',
    `name: ox
nodes:
  ingest: {uses: ingest, with: {path: ${JSON.stringify(path.join(work, 'images'))}}}
  score_tinyclip: {uses: score, needs: [ingest], with: {scorer: ${JSON.stringify(`onnx:${configs.clip}`)}, image: ingest.image, caption: ingest.caption}}
`,
  );
  const res = await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(work, 'data') } });
  assert.equal(res.code, 0, res.stderr);
  const rows = await sql(
    `SELECT count(*) AS n, count(score) AS scored, min(score) > -100 AND max(score) < 100 AS in_range FROM read_parquet('${work}/data/ox/score_tinyclip/*.parquet') WHERE status = 'ok'`,
  );
  assert.deepEqual(rows, [{ n: 10, scored: 10, in_range: true }]);
});
