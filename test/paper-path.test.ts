// The paper's model path on tiny ONNX models the tests build: a T5-style text encoder and a VAE.
// text_embed and latents store float16 tensors checked against hand computation; a latent preset
// trains on them, resumes after a kill to identical weights, and samples PNGs through the VAE
// decoder, in a sample node and with `miro sample`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import sharp from 'sharp';
import { ROOT, killAtCheckpointAndResume, runCli, tmpDir, writePipeline, sql, TORCH_PYTHON, NO_TORCH } from './helpers.ts';
import { connect } from '../src/store/duck.ts';
import { ShardLoader } from '../src/train/loader.ts';
import { readPlan } from '../src/train/torch-engine.ts';
import {
  writeFrozenModels,
  E_T5,
  T5_EMBED,
  T5_PIECES,
  VAE_MEAN_W,
  VAE_MEAN_B,
  VAE_LOGSTD_W,
  VAE_LOGSTD_B,
  VAE_NORM,
} from './onnx-fixtures.ts';
import { decodeFloat16, encodeFloat16, toHalf, fromHalf } from '../src/util/float16.ts';
import { normalizeLatent, denormalizeLatent, OnnxVae } from '../src/frozen/vae.ts';
import { OnnxTextEncoder } from '../src/frozen/text-encoder.ts';
import { loadTf } from '../src/model/backend.ts';
import { loadModel } from '../src/model/io.ts';
import { sampleImages, loadFrozen } from '../src/model/sampler.ts';
import { encodePng } from '../src/util/image.ts';

const dir = tmpDir('miro-paper-');
const frozen = await writeFrozenModels(dir);
const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} != ${b}`);

test('float16: exact for representable values, round to nearest even, overflow to infinity', () => {
  for (const x of [0, 1, -2, 0.5, 65504, 2 ** -24, -(2 ** -14)]) assert.equal(fromHalf(toHalf(x)), x);
  assert.equal(fromHalf(toHalf(0.1)), 0.0999755859375);
  assert.equal(fromHalf(toHalf(1 + 2 ** -11)), 1); // a tie rounds to the even mantissa
  assert.equal(fromHalf(toHalf(1 + 3 * 2 ** -11)), 1 + 2 ** -9);
  assert.equal(fromHalf(toHalf(70000)), Infinity);
  const v = Float32Array.from([3.25, -1e-3, 1234.5]); // 1234.5 is a tie between 1234 and 1235: even wins
  assert.deepEqual(Array.from(decodeFloat16(encodeFloat16(v))), [3.25, fromHalf(toHalf(-1e-3)), 1234]);
});

test('latent normalisation: (z - mean) * scale / std per channel, and back', () => {
  // One value per channel, at mean + std: normalised to exactly the scale, 0.5.
  const z = Float32Array.from(VAE_NORM.mean.map((m, c) => m + VAE_NORM.std[c]!));
  assert.deepEqual(
    Array.from(normalizeLatent(z, VAE_NORM), (x) => Math.round(x * 1e6) / 1e6),
    [0.5, 0.5, 0.5, 0.5],
  );
  const back = denormalizeLatent(normalizeLatent(z, VAE_NORM), VAE_NORM);
  back.forEach((x, i) => close(x, z[i]!, 1e-6, `channel ${i}`));
});

test('the VAE reads a non-square image as the short side resized and the centre cropped', async () => {
  const vae = await OnnxVae.load(frozen.vae);
  // 64 x 32: left half red, right half blue, split at x = 32 -> after the resize to 32 high, the
  // centre 32 x 32 crop keeps columns 16..47 of the 64: half red, half blue.
  const left = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .png()
    .toBuffer();
  const img = await sharp({ create: { width: 64, height: 32, channels: 3, background: { r: 0, g: 0, b: 255 } } })
    .composite([{ input: left, left: 0, top: 0 }])
    .png()
    .toBuffer();
  const px = await vae.pixels(new Uint8Array(img));
  assert.equal(px.length, 3 * 32 * 32);
  assert.equal(px[0], 1); // red channel, top-left: red
  assert.equal(px[31], -1); // red channel, top-right: blue
  assert.equal(px[2 * 1024 + 31], 1); // blue channel, top-right
});

test('text encoder: T5 pieces, </s> appended and kept last on truncation, padding dropped', async () => {
  const enc = await OnnxTextEncoder.load(frozen.textEncoder);
  const [short, long, empty] = await enc.encode(['a red circle', 'Two blue squares of the left a a a a', '']);
  const rows = (s: { tokens: number; data: Float32Array }) =>
    Array.from({ length: s.tokens }, (_, k) =>
      T5_PIECES.findIndex((_, id) =>
        E_T5.slice(id * T5_EMBED, (id + 1) * T5_EMBED).every((v, d) => Math.abs(v - s.data[k * T5_EMBED + d]!) < 1e-6),
      ),
    );
  assert.deepEqual(rows(short!), [3, 4, 6, 1]); // ▁a ▁red ▁circle </s>
  assert.equal(long!.tokens, 8);
  assert.deepEqual([rows(long!)[0], rows(long!)[1], rows(long!)[7]], [8, 5, 1]); // ▁two ▁blue ... </s>
  assert.deepEqual(rows(empty!), [1]); // the empty caption is </s> alone
});

const yaml = (frozenCfg: { textEncoder: string; vae: string }, steps = 12) => `name: pp
settings: {shards: 2, seed: 5}
nodes:
  synth: {uses: synth, with: {count: 48}}
  caption: {uses: caption, needs: [synth], with: {captioner: scene, scene: synth.scene}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  score_objects: {uses: score, needs: [synth], with: {scorer: objects, image: synth.image, caption: synth.caption}}
  bins:
    uses: bins
    needs: [score_colourfulness, score_objects]
    with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score, objects: score_objects.score}}
  embed_real: {uses: text_embed, needs: [synth], with: {encoder: ${JSON.stringify(frozenCfg.textEncoder)}, caption: synth.caption}}
  embed_long: {uses: text_embed, needs: [caption], with: {encoder: ${JSON.stringify(frozenCfg.textEncoder)}, caption: caption.caption}}
  latents: {uses: latents, needs: [synth], with: {vae: ${JSON.stringify(frozenCfg.vae)}, image: synth.image}}
  train:
    uses: train
    needs: [latents, embed_real, embed_long, bins, synth, caption]
    with:
      preset: paper-tiny
      latent_mean: latents.latent_mean
      latent_std: latents.latent_std
      text_real: embed_real.embedding
      text_synthetic: embed_long.embedding
      caption_real: synth.caption
      caption_synthetic: caption.caption
      targets: {colourfulness: bins.colourfulness_target, objects: bins.objects_target}
      steps: ${steps}
      batch_size: 8
      warmup_steps: 2
      checkpoint_every: 3
      keep_checkpoints: 5
      eval_samples: 0
  sample:
    uses: sample
    needs: [train]
    with: {model: train, prompts_file: configs/geneval-mini.jsonl, prompts_every: 60, steps: 3, settings: [{name: all, preset: all, guidance: 2}]}
`;

test('text_embed -> latents -> train (paper-tiny) -> sample: hand-checked tensors, a kill resumes to identical weights, PNGs through the VAE', async () => {
  const file = await writePipeline(dir, 'pp', yaml(frozen));
  const clean = path.join(dir, 'clean');
  const killed = path.join(dir, 'killed');
  const a = await runCli(['run', file], { env: { MIRO_DATA_ROOT: clean } });
  assert.equal(a.code, 0, a.stderr);

  // text_embed: the caption's own tokens, at most 8 with </s> kept last; each row one piece's embedding, float16.
  const texts = await sql(
    `SELECT e.id, e.embedding, e.tokens, e.status FROM read_parquet('${clean}/pp/embed_real/*.parquet') e ORDER BY id LIMIT 8`,
  );
  const pieceRows = T5_PIECES.map((_, id) => Array.from({ length: T5_EMBED }, (_, d) => fromHalf(toHalf(E_T5[id * T5_EMBED + d]!))).join());
  for (const r of texts) {
    assert.equal(r.status, 'ok');
    const got = decodeFloat16(r.embedding as Uint8Array);
    assert.equal(got.length, Number(r.tokens) * T5_EMBED);
    assert.ok(Number(r.tokens) >= 2 && Number(r.tokens) <= 8, `${r.id}: ${r.tokens} tokens`);
    const ids = Array.from({ length: Number(r.tokens) }, (_, k) =>
      pieceRows.indexOf(Array.from(got.subarray(k * T5_EMBED, (k + 1) * T5_EMBED)).join()),
    );
    assert.ok(!ids.includes(-1), `${r.id}: a token's states are not a row of the embedding table`);
    assert.equal(ids.at(-1), 1, `${r.id}: the last kept token is </s>`);
  }

  // latents: 4 x 4 x 4 float16; each cell is the 8 x 8 average of the image in [-1, 1], through the 1x1 convolutions.
  const lat = await sql(
    `SELECT l.id, l.latent_mean, l.latent_std, s.image FROM read_parquet('${clean}/pp/latents/*.parquet') l JOIN read_parquet('${clean}/pp/synth/*.parquet') s USING (id) ORDER BY id LIMIT 2`,
  );
  for (const r of lat) {
    const { data } = await sharp(r.image as Uint8Array)
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const mean = decodeFloat16(r.latent_mean as Uint8Array);
    const std = decodeFloat16(r.latent_std as Uint8Array);
    assert.equal(mean.length, 64);
    for (const [cy, cx] of [
      [0, 0],
      [1, 2],
      [3, 3],
    ] as const) {
      const avg = [0, 1, 2].map((c) => {
        let s = 0;
        for (let y = cy * 8; y < cy * 8 + 8; y++) for (let x = cx * 8; x < cx * 8 + 8; x++) s += data[(y * 32 + x) * 3 + c]! / 127.5 - 1;
        return s / 64;
      });
      for (let k = 0; k < 4; k++) {
        const m = VAE_MEAN_B[k]! + avg.reduce((s, v, c) => s + v * VAE_MEAN_W[k * 3 + c]!, 0);
        const sd = Math.exp(VAE_LOGSTD_B[k]! + avg.reduce((s, v, c) => s + v * VAE_LOGSTD_W[k * 3 + c]!, 0));
        close(mean[k * 16 + cy * 4 + cx]!, m, 2e-3, `${r.id} mean c${k} (${cy},${cx})`);
        close(std[k * 16 + cy * 4 + cx]!, sd, 2e-3, `${r.id} std c${k} (${cy},${cx})`);
      }
    }
  }
  const manifest = JSON.parse(readFileSync(path.join(clean, 'pp/latents/_manifest.json'), 'utf8'));
  assert.deepEqual(manifest.state.normalization, VAE_NORM);
  assert.deepEqual(manifest.state.shape, [4, 4, 4]);
  const textManifest = JSON.parse(readFileSync(path.join(clean, 'pp/embed_real/_manifest.json'), 'utf8'));
  assert.equal(textManifest.state.embed_dim, T5_EMBED);
  assert.equal(textManifest.state.dtype, 'float16');

  // The trained model records the frozen models and the normalisation it trained with.
  const modelDir = path.join(clean, 'pp/train/_model');
  const cfg = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
  assert.equal(cfg.frozen.vae.config, path.resolve(frozen.vae));
  assert.equal(cfg.frozen.text_encoder.config, path.resolve(frozen.textEncoder));
  assert.deepEqual(cfg.frozen.vae.normalization, VAE_NORM);
  const state = JSON.parse(readFileSync(path.join(clean, 'pp/train/_checkpoints/step-0000012/state.json'), 'utf8'));
  assert.ok(state.backend, 'the checkpoint records its backend');

  // A kill after the step-6 checkpoint resumes to the same curve and weights.
  const only = ['synth', 'caption', 'score_colourfulness', 'score_objects', 'bins', 'embed_real', 'embed_long', 'latents', 'train'];
  const b = await killAtCheckpointAndResume(file, killed, only, 'pp/train/_checkpoints/step-0000006/state.json', 'pp/train');
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /resumed from .*step-00000(06|09)/);
  const curve = (root: string) => sql(`SELECT step, loss, grad_norm FROM read_parquet('${root}/pp/train/*.parquet') ORDER BY step`);
  assert.deepEqual(await curve(killed), await curve(clean));
  const ema = (root: string) => readFileSync(path.join(root, 'pp/train/_model/ema.safetensors'));
  assert.ok(ema(clean).equals(ema(killed)), 'final EMA weights differ after resume');

  // The sample node's PNGs are 32 x 32 (the VAE's resolution) and equal sampling here through the VAE.
  const rows = await sql(`SELECT prompt, image, seed, noise_index FROM read_parquet('${clean}/pp/sample/*.parquet') ORDER BY noise_index`);
  assert.equal(rows.length, 6);
  const meta = await sharp(rows[0]!.image as Uint8Array).metadata();
  assert.deepEqual([meta.width, meta.height], [32, 32]);
  const { tf } = await loadTf('wasm');
  const model = await loadModel(tf, modelDir);
  const images = await sampleImages(
    tf,
    model.cfg,
    model.params,
    {
      captions: rows.map((r) => String(r.prompt)),
      positive: rows.map(() => [1, 1]),
      negative: rows.map(() => [0, 0]),
      guidance: 2,
      negativeCaption: 'same',
      steps: 3,
      seed: Number(rows[0]!.seed),
      offset: 0,
    },
    await loadFrozen(model.cfg),
  );
  for (const [i, r] of rows.entries())
    assert.ok(Buffer.from(await encodePng(images[i]!, 32, 32)).equals(Buffer.from(r.image as Uint8Array)), `sample ${i} differs`);

  // `miro sample` on the same model.
  const out = path.join(dir, 'cli.png');
  const c = await runCli(['sample', modelDir, '--prompt', 'a red circle', '--n', '2', '--steps', '3', '--out', out]);
  assert.equal(c.code, 0, c.stderr);
  assert.ok((await sharp(out).metadata()).width! >= 2 * 32);
});

test(
  'engine torch on the latent path (paper-tiny): the torch engine reads the same latents, text states and targets, and its model samples through the VAE',
  { skip: TORCH_PYTHON ? false : NO_TORCH },
  async () => {
    const file = await writePipeline(dir, 'pp', yaml(frozen));
    const root = path.join(dir, 'torch');
    const set = ['--set', 'nodes.train.with.engine=torch', '--set', `nodes.train.with.python=${TORCH_PYTHON}`];
    const r = await runCli(['run', file, ...set], { env: { MIRO_DATA_ROOT: root } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /launching .*miro_torch\.train/);
    const curve = await sql(`SELECT step, loss FROM read_parquet('${root}/pp/train/*.parquet') ORDER BY step`);
    assert.equal(curve.length, 12);
    assert.ok(curve.every((c) => Number.isFinite(c.loss)));
    const pngs = await sql(`SELECT image FROM read_parquet('${root}/pp/sample/*.parquet')`);
    assert.equal(pngs.length, 6);
    const meta = await sharp(pngs[0]!.image as Uint8Array).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 32, 32], 'decoded by the VAE to its 32 px');

    // The first batch as each engine builds it, from the plan without latent_std (so no noise is
    // drawn and the latents are the normalised means): the same ids, latents, text states, masks, targets.
    const planFile = path.join(root, 'pp/train/_torch/plan.json');
    const plain = JSON.parse(readFileSync(planFile, 'utf8'));
    delete plain.data.columns.latent_std;
    const noStd = path.join(root, 'pp/train/_torch/plan-no-std.json');
    writeFileSync(noStd, JSON.stringify(plain));
    const plan = readPlan(noStd);
    const conn = await connect();
    const cfg = JSON.parse(readFileSync(path.join(root, 'pp/train/_model/config.json'), 'utf8'));
    const loader = new ShardLoader(conn, {
      plan: plan.data,
      rewards: ['colourfulness', 'objects'],
      batchSize: 8,
      imageSize: cfg.image_size,
      vocab: [],
      maxTokens: cfg.text.max_tokens,
      latents: { shape: plan.data.latent_shape!, normalization: plan.data.normalization!, embedDim: cfg.text.embed_dim },
    });
    const ts = await loader.next();
    conn.closeSync();
    const script = `import json, sys
from miro_torch.stream import Stream, Batcher, default_reader, load_plan
plan = load_plan(sys.argv[1])
s = Stream(plan['data'], 0, 1, default_reader(plan['data'], sys.argv[1]))
rows, epoch = s.next_rows(8)
b = Batcher(plan['data'], plan['model'])(rows, epoch)
print(json.dumps({k: (v if k == 'ids' else v.flatten().tolist()) for k, v in b.items()}))`;
    const py = spawnSync(TORCH_PYTHON!, ['-c', script, noStd], {
      cwd: path.join(ROOT, 'python'),
      encoding: 'utf8',
      env: { ...process.env, MIRO_NODE: process.execPath },
    });
    assert.equal(py.status, 0, py.stderr);
    const b = JSON.parse(py.stdout) as Record<string, number[]> & { ids: string[] };
    assert.deepEqual(b.ids, ts.ids);
    const same = (a: ArrayLike<number>, c: number[], what: string) => {
      assert.equal(a.length, c.length, what);
      for (let i = 0; i < c.length; i++) assert.ok(Math.abs(a[i]! - c[i]!) < 1e-5, `${what}[${i}]: ${a[i]} vs ${c[i]}`);
    };
    same(ts.x, b.x!, 'latents');
    same(ts.textStates, b.text!, 'text states');
    same(ts.textMask, b.text_mask!, 'text mask');
    same(ts.targets, b.rewards!, 'targets');
    same(ts.targetMask, b.reward_mask!, 'target mask');
  },
);

test('a latent preset names what it lacks, and a shape mismatch names the node', async () => {
  const bad = await writePipeline(dir, 'pp2', yaml(frozen).replace('      text_real: embed_real.embedding\n', ''));
  const r = await runCli(['run', bad, '--dry-run']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /paper-tiny trains on VAE latents with precomputed text: needs latent_mean .*text_real/);
  const mixed = await writePipeline(dir, 'pp3', yaml(frozen).replace('preset: paper-tiny', 'preset: tiny'));
  const m = await runCli(['run', mixed, '--dry-run']);
  assert.notEqual(m.code, 0);
  assert.match(m.stderr, /preset tiny learns from pixels and captions/);
});
