// scripts/export/ on stand-in modules: each exporter wraps a tiny module with the upstream
// interface, writes ONNX with Debian's python3-torch, and runs PyTorch on the same inputs; the
// project's scorers, text encoder and VAE then read the written files and must agree with PyTorch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ROOT, tmpDir } from './helpers.ts';
import { writeTokenizer, writeT5Tokenizer } from './onnx-fixtures.ts';
import { loadScorer, type Scorer } from '../src/scorers/index.ts';
import { PaddedTokenizer } from '../src/onnx/tokenizer.ts';
import { OnnxTextEncoder } from '../src/frozen/text-encoder.ts';
import { OnnxVae } from '../src/frozen/vae.ts';
import { decodeImage } from '../src/util/image.ts';

/** A Python with PyTorch: MIRO_PYTHON, Debian's /usr/bin/python3, or python3 on the PATH. */
function torchPython(): string | null {
  for (const py of [process.env.MIRO_PYTHON, '/usr/bin/python3', 'python3'].filter((x): x is string => !!x)) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}
const python = torchPython();
const skip = python ? false : 'no Python with PyTorch here (CI installs python3-torch; MIRO_PYTHON names another)';

const dir = tmpDir('miro-export-');
const COLOUR = [200, 30, 90];
const MEAN = [0.5, 0.5, 0.5];
const STD = [0.25, 0.25, 0.25];
const S = 4;
const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b)), `${what}: ${a} != ${b}`);

/** Runs an exporter with --stand-in and --check; returns PyTorch's outputs on the check inputs. */
function exportStandIn(script: string, out: string, check: Record<string, unknown>, extra: string[] = []): Record<string, number[][]> {
  const spec = path.join(dir, `${path.basename(out)}-check.json`);
  execFileSync('bash', ['-c', 'cat > "$0"', spec], { input: JSON.stringify(check) });
  execFileSync(python!, [path.join(ROOT, 'scripts/export', script), '--stand-in', '--out', out, '--check', spec, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(readFileSync(path.join(out, 'check.json'), 'utf8'));
}

/** The flat test image's CLIP input: (v / 255 - mean) / std per channel, [1, 3, S, S]. */
const pixelValues = (size = S) => ({
  shape: [1, 3, size, size],
  data: COLOUR.flatMap((v, c) => Array<number>(size * size).fill((v / 255 - MEAN[c]!) / STD[c]!)),
});
const image = async () => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: COLOUR[0]!, g: COLOUR[1]!, b: COLOUR[2]! } } })
    .png()
    .toBuffer();
  return { bytes: new Uint8Array(png), decoded: await decodeImage(new Uint8Array(png)) };
};
const textIds = async (modelDir: string, caption: string, T: number) => {
  const { ids, mask } = (await PaddedTokenizer.load(path.join(modelDir, 'tokenizer.json'), T, 2, 0)).encode([caption]);
  return {
    input_ids: { shape: [1, T], data: Array.from(ids, Number), dtype: 'int64' },
    attention_mask: { shape: [1, T], data: Array.from(mask, Number), dtype: 'int64' },
  };
};
const common = `image: {size: ${S}, mean: [${MEAN}], std: [${STD}]}\ntext: {max_tokens: 6, eos_token_id: 2, pad_token_id: 0}\nbatch_size: 2\n`;
async function score(config: string, caption: string): Promise<number> {
  const scorer = (await loadScorer(`onnx:${config}`)) as Scorer;
  const img = await image();
  const [s] = await scorer.score([{ id: 'x', image: img.decoded, caption, bytes: img.bytes }]);
  return s as number;
}
const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0) / (Math.hypot(...a) * Math.hypot(...b));

test('export_clip.py: the clip scorer reads both towers and matches PyTorch', { skip }, async () => {
  const out = path.join(dir, 'clip');
  await writeTokenizer(out);
  const caption = 'a red circle';
  const torch = exportStandIn('export_clip.py', out, { pixel_values: pixelValues(), ...(await textIds(out, caption, 6)) }, [
    '--image-size',
    '4',
    '--max-tokens',
    '6',
  ]);
  const config = path.join(dir, 'clip.yaml');
  await fs.writeFile(
    config,
    `name: exported-clip\nkind: clip\nmodel_dir: clip\nfiles: {vision: onnx/vision_model.onnx, text: onnx/text_model.onnx, tokenizer: tokenizer.json}\nscore: {scale: 100}\n${common}`,
  );
  close(await score(config, caption), 100 * cosine(torch.vision![0]!, torch.text![0]!), 'clip score');
  const record = JSON.parse(readFileSync(path.join(out, 'export.json'), 'utf8'));
  assert.match(record.files['onnx/vision_model.onnx'], /^[0-9a-f]{64}$/);
});

test('export_clip.py --vision-only and export_aesthetic_mlp.py: the clip-mlp scorer matches PyTorch', { skip }, async () => {
  const out = path.join(dir, 'aesthetic');
  const vision = exportStandIn('export_clip.py', out, { pixel_values: pixelValues() }, ['--image-size', '4', '--vision-only']);
  const e = vision.vision![0]!;
  const unit = e.map((x) => x / Math.hypot(...e));
  const mlp = exportStandIn('export_aesthetic_mlp.py', out, { embedding: { shape: [1, unit.length], data: unit } });
  const config = path.join(dir, 'aesthetic.yaml');
  await fs.writeFile(
    config,
    `name: exported-aesthetic\nkind: clip-mlp\nmodel_dir: aesthetic\nfiles: {vision: onnx/vision_model.onnx, mlp: aesthetic_mlp.safetensors}\n${common}`,
  );
  close(await score(config, ''), mlp.mlp![0]![0]!, 'aesthetic score');
});

test('export_imagereward.py: the blip-reward scorer normalises the exported head output', { skip }, async () => {
  const out = path.join(dir, 'imagereward');
  await writeTokenizer(out);
  const caption = 'two blue squares';
  const ids = await textIds(out, caption, 6);
  const torch = exportStandIn('export_imagereward.py', out, { pixel_values: pixelValues(), ...ids }, [
    '--image-size',
    '4',
    '--max-tokens',
    '6',
  ]);
  const config = path.join(dir, 'imagereward.yaml');
  await fs.writeFile(
    config,
    `name: exported-ir\nkind: blip-reward\nmodel_dir: imagereward\nfiles: {model: onnx/imagereward.onnx, tokenizer: tokenizer.json}\nscore: {mean: 0.16717362830052426, std: 1.0333394966054072}\n${common}`,
  );
  close(await score(config, caption), (torch.reward![0]![0]! - 0.16717362830052426) / 1.0333394966054072, 'imagereward score');
});

test('export_vqascore.py: the vqa scorer takes P(yes) from the exported first-answer logits', { skip }, async () => {
  const out = path.join(dir, 'vqa');
  await writeTokenizer(out);
  const caption = 'a blue circle';
  const ids = await textIds(out, caption, 6);
  const torch = exportStandIn('export_vqascore.py', out, { pixel_values: pixelValues(), ...ids }, [
    '--image-size',
    '4',
    '--max-tokens',
    '6',
  ]);
  const config = path.join(dir, 'vqa.yaml');
  await fs.writeFile(
    config,
    `name: exported-vqa\nkind: vqa\nmodel_dir: vqa\nfiles: {model: onnx/vqa.onnx, tokenizer: tokenizer.json}\nscore: {yes_token_id: 17}\n${common}`,
  );
  const logits = torch.logits![0]!;
  const m = Math.max(...logits);
  const z = logits.reduce((s, x) => s + Math.exp(x - m), 0);
  close(await score(config, caption), Math.exp(logits[17]! - m) / z, 'vqa score');
});

test('export_t5_encoder.py: text_embed reads the exported encoder and keeps the caption tokens', { skip }, async () => {
  const out = path.join(dir, 't5');
  await writeT5Tokenizer(out);
  const caption = 'a red circle';
  const { ids, mask } = (await PaddedTokenizer.load(path.join(out, 'tokenizer.json'), 8, 1, 0)).encode([caption]);
  const torch = exportStandIn(
    'export_t5_encoder.py',
    out,
    {
      input_ids: { shape: [1, 8], data: Array.from(ids, Number), dtype: 'int64' },
      attention_mask: { shape: [1, 8], data: Array.from(mask, Number), dtype: 'int64' },
    },
    ['--max-tokens', '8'],
  );
  const config = path.join(dir, 't5.yaml');
  await fs.writeFile(
    config,
    `name: exported-t5\nkind: text-encoder\nmodel_dir: t5\nfiles: {model: onnx/encoder.onnx, tokenizer: tokenizer.json}\ntext: {max_tokens: 8, eos_token_id: 1, pad_token_id: 0}\nembed_dim: 8\n`,
  );
  const [states] = await (await OnnxTextEncoder.load(config)).encode([caption]);
  assert.equal(states!.tokens, 4);
  states!.data.forEach((v, i) => close(v, torch.states![0]![i]!, `state ${i}`));
});

test('export_vae.py: the latents stage and the sampler read the exported encoder and decoder', { skip }, async () => {
  const out = path.join(dir, 'vae');
  const R = 16;
  const latent = Array.from({ length: 4 * 2 * 2 }, (_, i) => Math.sin(i));
  const torch = exportStandIn(
    'export_vae.py',
    out,
    {
      sample: { shape: [1, 3, R, R], data: COLOUR.flatMap((v) => Array<number>(R * R).fill(v / 127.5 - 1)) },
      latent: { shape: [1, 4, 2, 2], data: latent },
    },
    ['--resolution', String(R)],
  );
  const config = path.join(dir, 'vae.yaml');
  await fs.writeFile(
    config,
    `name: exported-vae\nkind: vae\nmodel_dir: vae\nfiles: {encoder: onnx/vae_encoder.onnx, decoder: onnx/vae_decoder.onnx}\nresolution: ${R}\nfactor: 8\nchannels: 4\nnormalization: {mean: [0, 0, 0, 0], std: [1, 1, 1, 1], scale: 0.5}\n`,
  );
  const vae = await OnnxVae.load(config);
  const [dist] = await vae.encode([(await image()).bytes]);
  dist!.mean.forEach((v, i) => close(v, torch.encode![0]![i]!, `latent mean ${i}`));
  dist!.std.forEach((v, i) => close(v, torch.encode![1]![i]!, `latent std ${i}`));
  const [px] = await vae.decode(Float32Array.from(latent), 1);
  // decode returns [R, R, 3] on 0-255; PyTorch gives [3, R, R] in [-1, 1].
  for (let p = 0; p < R * R; p += 37)
    for (let c = 0; c < 3; c++)
      close(px![p * 3 + c]!, Math.min(255, Math.max(0, (torch.decode![0]![c * R * R + p]! + 1) * 127.5)), `pixel ${p}.${c}`);
});
