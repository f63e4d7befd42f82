// `engine: torch` on the train node, on the CPU with Debian's python3-torch (CI installs it):
// both engines read the same stream (the same rows, batch by batch, and disjoint shards per
// rank); a torch run killed at a checkpoint resumes to the weights of an uninterrupted one; the
// model it writes samples through `miro sample`'s stage and matches the torch engine's own sampler
// to 1e-4; two gloo ranks under torchrun train the node; without PyTorch the node fails with an
// install hint and nothing upstream is touched.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, killAtCheckpointAndResume, runCli, sql, tmpDir, writePipeline, TORCH_PYTHON, NO_TORCH } from './helpers.ts';
import { connect } from '../src/store/duck.ts';
import { ShardLoader } from '../src/train/loader.ts';
import { rankWindows, type StreamPlan } from '../src/train/stream.ts';
import { readPlan } from '../src/train/torch-engine.ts';
import { loadTf } from '../src/model/backend.ts';
import { loadModel } from '../src/model/io.ts';
import { sampleImages } from '../src/model/sampler.ts';
import { encodePng } from '../src/util/image.ts';
import { readSafetensors } from '../src/util/safetensors.ts';
import { loadPipeline } from '../src/dag/pipeline.ts';
import { startServer } from '../src/serve/server.ts';
import sharp from 'sharp';

const PYTHON = TORCH_PYTHON;
const skip = PYTHON ? false : NO_TORCH;

const yaml = (extra: string) => `name: te
settings: {shards: 4, seed: 5}
nodes:
  synth: {uses: synth, with: {count: 120}}
  caption: {uses: caption, needs: [synth], with: {captioner: scene, scene: synth.scene}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  score_objects: {uses: score, needs: [synth], with: {scorer: objects, image: synth.image, caption: synth.caption}}
  bins:
    uses: bins
    needs: [score_colourfulness, score_objects]
    with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score, objects: score_objects.score}}
  train:
    uses: train
    needs: [synth, caption, bins]
    with:
      engine: torch
      python: ${PYTHON}
      image: synth.image
      caption_real: synth.caption
      caption_synthetic: caption.caption
      targets: {colourfulness: bins.colourfulness_target, objects: bins.objects_target}
      caption_dropout: 0.1
      buffer_shards: 1
      steps: 12
      batch_size: 8
      warmup_steps: 2
      checkpoint_every: 3
      keep_checkpoints: 5
      eval_samples: 2
      eval_every: 6
${extra}
  sample:
    uses: sample
    needs: [train]
    with: {model: train, prompts_file: configs/geneval-mini.jsonl, prompts_every: 60, steps: 3, settings: [{name: all, preset: all, guidance: 2}]}
`;

function python(args: string[]): string {
  const r = spawnSync(PYTHON!, args, {
    cwd: path.join(ROOT, 'python'),
    encoding: 'utf8',
    env: { ...process.env, MIRO_NODE: process.execPath, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
  });
  assert.equal(r.status, 0, `${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const NODES = ['synth', 'caption', 'score_colourfulness', 'score_objects', 'bins', 'train'];

test(
  'engine torch: same stream as TensorFlow.js, kill-and-resume to the same weights, samples match the torch sampler',
  { skip },
  async (t) => {
    const dir = tmpDir();
    const file = await writePipeline(dir, 'te', yaml(''));
    const clean = path.join(dir, 'clean');
    const a = await runCli(['run', file], { env: { MIRO_DATA_ROOT: clean } });
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stderr, /launching .*miro_torch\.train/);

    // 1. The stream: TypeScript's loader and Python's Stream give the same ids, batch by batch,
    // across two epochs; two ranks read disjoint shards that cover the epoch.
    const planFile = path.join(clean, 'te/train/_torch/plan.json');
    const plan = readPlan(planFile);
    assert.equal(plan.data.units.length, 4);
    for (const u of plan.data.units)
      assert.deepEqual(Object.keys(u).sort(), ['bins', 'caption', 'synth'], 'aligned shards: one file a node');
    const conn = await connect();
    const loader = new ShardLoader(conn, {
      plan: plan.data,
      rewards: ['colourfulness', 'objects'],
      batchSize: 8,
      imageSize: 32,
      vocab: [],
      maxTokens: 4,
    });
    const tsIds: string[][] = [];
    for (let i = 0; i < 30; i++) tsIds.push((await loader.next()).ids);
    conn.closeSync();
    const script = `import json, sys
from miro_torch.stream import Stream, default_reader, load_plan
plan = load_plan(sys.argv[1])['data']
s = Stream(plan, 0, 1, default_reader(plan, sys.argv[1]))
print(json.dumps([[r['id'] for r in s.next_rows(8)[0]] for _ in range(30)]))`;
    const pyIds = JSON.parse(python(['-c', script, planFile])) as string[][];
    assert.deepEqual(pyIds, tsIds);
    // Where pyarrow is importable (the GPU machines; Debian packages none), it reads the same rows as DuckDB.
    if (spawnSync(PYTHON!, ['-c', 'import pyarrow.parquet'], { encoding: 'utf8' }).status === 0) {
      const both = `import json, sys
from miro_torch.stream import load_plan, pyarrow_reader, node_reader
plan = load_plan(sys.argv[1])['data']
key = lambda rows: sorted((r['id'], r['caption_real'], r['caption_synthetic'], r['target_colourfulness'], r['target_objects'], r['image']) for r in rows)
print(json.dumps([key(pyarrow_reader(plan)([u])) == key(node_reader(sys.argv[1])([u])) for u in range(len(plan['units']))]))`;
      assert.deepEqual(JSON.parse(python(['-c', both, planFile])), [true, true, true, true], 'pyarrow and DuckDB read other rows');
    } else t.diagnostic('pyarrow is not importable here: its reader was not compared with DuckDB');
    // The plan's paths are relative to its folder: a data root copied elsewhere (a GPU machine) reads the same.
    const moved = path.join(dir, 'moved');
    cpSync(clean, moved, { recursive: true });
    const movedPlan = path.join(moved, 'te/train/_torch/plan.json');
    for (const f of readPlan(movedPlan).data.units.flatMap((u) => Object.values(u).flat())) assert.ok(f.startsWith(moved), f);
    assert.deepEqual(JSON.parse(python(['-c', script, movedPlan])), tsIds);
    assert.ok(new Set(tsIds.flat()).size > 100, 'the stream ran through more than one epoch of distinct rows');
    for (const epoch of [0, 1]) {
      const r0 = rankWindows(plan.data as StreamPlan, 0, 2, epoch).flat();
      const r1 = rankWindows(plan.data as StreamPlan, 1, 2, epoch).flat();
      assert.deepEqual([...r0, ...r1].sort(), [0, 1, 2, 3]);
      assert.equal(r0.length, 2);
    }

    // 2. Killed at a checkpoint, resumed: the same loss curve and the same final weights.
    const killed = path.join(dir, 'killed');
    const b = await killAtCheckpointAndResume(file, killed, NODES, 'te/train/_checkpoints/step-0000006/state.json', 'te/train');
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /resumed from .*step-00000(06|09)/);
    const curve = (root: string) =>
      sql(`SELECT step, epoch, loss, lr, grad_norm, eval_geneval FROM read_parquet('${root}/te/train/*.parquet') ORDER BY step`);
    const [ca, cb] = [await curve(clean), await curve(killed)];
    assert.equal(ca.length, 12);
    assert.deepEqual(cb, ca);
    assert.ok(ca.every((r) => Number.isFinite(r.loss)));
    assert.equal(ca.filter((r) => r.eval_geneval !== null).length, 2, 'evaluations at steps 6 and 12');
    const ema = (root: string) => readFileSync(path.join(root, 'te/train/_model/ema.safetensors'));
    assert.ok(ema(clean).equals(ema(killed)), 'final EMA weights differ after resume');
    const state = JSON.parse(readFileSync(path.join(clean, 'te/train/_checkpoints/step-0000012/state.json'), 'utf8'));
    assert.equal(state.engine, 'torch');

    // 3. The sample stage drew the TypeScript sampler's images; the torch sampler draws the same to 1e-4.
    const { tf } = await loadTf('wasm');
    const { cfg, params } = await loadModel(tf, path.join(clean, 'te/train/_model'));
    const rows = await sql(
      `SELECT prompt, image, seed, noise_index FROM read_parquet('${clean}/te/sample/*.parquet') ORDER BY noise_index`,
    );
    assert.equal(rows.length, 6);
    const req = {
      captions: rows.map((r) => String(r.prompt)),
      positive: rows.map(() => [1, 1]),
      negative: rows.map(() => [0, 0]),
      guidance: 2,
      negativeCaption: 'same' as const,
      steps: 3,
      seed: Number(rows[0]!.seed),
      offset: Number(rows[0]!.noise_index),
    };
    const images = await sampleImages(tf, cfg, params, req);
    for (const [i, r] of rows.entries())
      assert.ok(Buffer.from(await encodePng(images[i]!, 32, 32)).equals(Buffer.from(r.image as Uint8Array)), `sample ${i} differs`);
    const reqFile = path.join(dir, 'request.json');
    writeFileSync(reqFile, JSON.stringify({ ...req, negative_caption: req.negativeCaption }));
    const out = path.join(dir, 'torch-samples.safetensors');
    python(['-m', 'miro_torch.sample', path.join(clean, 'te/train/_model'), reqFile, out]);
    const torchImages = (await readSafetensors(out)).tensors.get('images')!.data;
    let worst = 0;
    images.forEach((img, i) => img.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - torchImages[i * img.length + k]!) / 127.5))));
    assert.ok(worst < 1e-4, `TensorFlow.js and torch samplers differ by ${worst} (on the [-1, 1] scale)`);

    // 4. `miro sample` and the Dials page take the torch-trained model as they take any other.
    const sheet = path.join(dir, 'sheet.png');
    const cli = await runCli([
      'sample',
      path.join(clean, 'te/train'),
      '--prompt',
      'a photo of a red circle',
      '--steps',
      '3',
      '--out',
      sheet,
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.ok((await sharp(sheet).metadata()).width! >= 32);
    const server = await startServer(loadPipeline(file, { dataRoot: clean }), { port: 0 });
    try {
      const res = await fetch(`${server.url}/api/sample`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ node: 'train', prompt: 'a photo of a red circle', preset: 'all', guidance: 2, seed: 1, steps: 3 }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 32, 32]);
    } finally {
      await server.close();
    }
  },
);

test('engine torch: two gloo ranks under torchrun train the node, each on its own shards', { skip, timeout: 240_000 }, async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'te', yaml('      nproc_per_node: 2').replace('eval_samples: 2', 'eval_samples: 0'));
  const root = path.join(dir, 'data');
  const r = await runCli(['run', file, ...NODES.flatMap((n) => ['--only', n])], { env: { MIRO_DATA_ROOT: root } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /torch\.distributed\.run --standalone --nproc_per_node 2/);
  assert.match(r.stderr, /2 rank\(s\) on cpu, 4 examples each/);
  const state = JSON.parse(readFileSync(path.join(root, 'te/train/_checkpoints/step-0000012/state.json'), 'utf8'));
  assert.equal(state.world, 2);
  assert.equal(state.cursors.length, 2);
  const rows = await sql(
    `SELECT count(*) AS n, count(*) FILTER (WHERE isfinite(loss)) AS finite FROM read_parquet('${root}/te/train/*.parquet')`,
  );
  assert.deepEqual({ n: Number(rows[0]!.n), finite: Number(rows[0]!.finite) }, { n: 12, finite: 12 });
});

test('engine torch without PyTorch: a clear error that says how to install it, and upstream stays committed', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'te', yaml('').replace(`python: ${PYTHON}`, 'python: /nonexistent/python3'));
  const root = path.join(dir, 'data');
  const r = await runCli(['run', file, ...NODES.flatMap((n) => ['--only', n])], { env: { MIRO_DATA_ROOT: root } });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /engine: torch needs Python with PyTorch/);
  assert.match(r.stderr, /apt-get install python3-torch/);
  for (const n of NODES.slice(0, -1)) assert.ok(existsSync(path.join(root, 'te', n, '_done')), `${n} lost its commit`);
  assert.ok(!existsSync(path.join(root, 'te/train/_done/00000.json')));
  assert.ok(!existsSync(path.join(root, 'te/train/torch')), 'nothing written for the train node');
});
