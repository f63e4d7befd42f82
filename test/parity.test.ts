// Reward-model inputs that match the reference implementations on real photographs: PIL decoding
// and torchvision or transformers resizing and cropping, computed by Debian's python3-pil and
// python3-torchvision (test/reference_preprocess.py), against the pipeline's reference.ts, for
// every shipped photo (test/photos: sizes, aspect ratios, a colour profile, palette, alpha, grey,
// CMYK). Then each scorer kind, on a stand-in exported with PyTorch, scores the photo bytes as
// PyTorch scores the reference tensors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, tmpDir } from './helpers.ts';
import { writeTokenizer } from './onnx-fixtures.ts';
import { openLikePil, referencePixels } from '../src/scorers/onnx/reference.ts';
import { loadScorer, type Scorer } from '../src/scorers/index.ts';
import { PaddedTokenizer } from '../src/onnx/tokenizer.ts';
import { decodeImage } from '../src/util/image.ts';

const python = ['/usr/bin/python3', process.env.MIRO_PYTHON].find(
  (p): p is string => !!p && spawnSync(p, ['-c', 'import PIL, torch, torchvision'], { stdio: 'ignore' }).status === 0,
);
const skip = python ? false : 'no Python with PIL, torch and torchvision (CI installs python3-pil, python3-torch, python3-torchvision)';
const PHOTOS = path.join(ROOT, 'test/photos');
const photos = readdirSync(PHOTOS).filter((f) => /\.(png|jpe?g)$/.test(f));
const REFS = ['open_clip', 'blip', 'hf_clip', 'hpsv2_eval'] as const;
const S = 224;
const dir = tmpDir('miro-parity-');

/** The reference pixels from PIL and torchvision, per photo and reference. */
async function referenceOutputs(): Promise<(photo: string, ref: string) => Buffer> {
  execFileSync(python!, [path.join(ROOT, 'test/reference_preprocess.py'), dir, String(S), ...photos.map((p) => path.join(PHOTOS, p))]);
  return (photo, ref) => readFileSync(path.join(dir, `${photo}.${ref}.${S}.rgb`));
}

test('pixel parity: every shipped photo, every reference, against PIL and torchvision', { skip }, async () => {
  const reference = await referenceOutputs();
  assert.ok(photos.length >= 9, `${photos.length} photos`);
  for (const photo of photos) {
    const opened = await openLikePil(new Uint8Array(readFileSync(path.join(PHOTOS, photo))));
    for (const ref of REFS) {
      const mine = referencePixels(opened, S, ref);
      const theirs = reference(photo, ref);
      const diffs = Array.from(mine, (v, i) => Math.abs(v - theirs[i]!)).sort((a, b) => a - b);
      const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
      const p99 = diffs[Math.floor(diffs.length * 0.99)]!;
      assert.ok(mean <= 0.5 && p99 <= 2, `${photo} (${opened.mode}), ${ref}: mean ${mean.toFixed(3)}, p99 ${p99} (levels of 255)`);
    }
  }
});

test('score parity: each scorer kind scores the photo bytes as PyTorch scores the reference tensors, to 1e-4', { skip }, async () => {
  const reference = await referenceOutputs();
  const MEAN = [0.48145466, 0.4578275, 0.40821073];
  const STD = [0.26862954, 0.26130258, 0.27577711];
  /** [N, 3, S, S] normalised reference tensors for one reference. */
  const tensors = (ref: string) => ({
    shape: [photos.length, 3, S, S],
    data: photos.flatMap((photo) => {
      const px = reference(photo, ref);
      const out = new Array<number>(3 * S * S);
      for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) out[c * S * S + p] = (px[p * 3 + c]! / 255 - MEAN[c]!) / STD[c]!;
      return out;
    }),
  });
  const caption = 'a red circle';
  const exportStandIn = async (script: string, out: string, check: Record<string, unknown>, extra: string[]) => {
    const spec = path.join(dir, `${path.basename(out)}.json`);
    await fs.writeFile(spec, JSON.stringify(check));
    execFileSync(python!, [path.join(ROOT, 'scripts/export', script), '--stand-in', '--out', out, '--check', spec, ...extra]);
    return JSON.parse(readFileSync(path.join(out, 'check.json'), 'utf8')) as Record<string, number[][]>;
  };
  const ids = async (modelDir: string) => {
    const { ids: t, mask } = (await PaddedTokenizer.load(path.join(modelDir, 'tokenizer.json'), 6, 2, 0)).encode(photos.map(() => caption));
    return {
      input_ids: { shape: [photos.length, 6], data: Array.from(t, Number), dtype: 'int64' },
      attention_mask: { shape: [photos.length, 6], data: Array.from(mask, Number), dtype: 'int64' },
    };
  };
  const score = async (config: string) => {
    const scorer = (await loadScorer(`onnx:${config}`)) as Scorer;
    const inputs = await Promise.all(
      photos.map(async (p) => {
        const bytes = new Uint8Array(readFileSync(path.join(PHOTOS, p)));
        return { id: p, image: await decodeImage(bytes), caption, bytes };
      }),
    );
    return (await scorer.score(inputs)) as number[];
  };
  const common = (ref: string) =>
    `image: {size: ${S}, mean: [${MEAN}], std: [${STD}], reference: ${ref}}\ntext: {max_tokens: 6, eos_token_id: 2, pad_token_id: 0}\nbatch_size: 4\n`;
  const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
  const rows = (flat: number[], n: number) =>
    Array.from({ length: n }, (_, i) => flat.slice((i * flat.length) / n, ((i + 1) * flat.length) / n));
  const close = (got: number[], want: number[], what: string) =>
    got.forEach((g, i) =>
      assert.ok(Math.abs(g - want[i]!) <= 1e-4 * Math.max(1, Math.abs(want[i]!)), `${what}, ${photos[i]}: ${g} != ${want[i]}`),
    );

  // clip (PickScore-style, hf_clip) and clip-mlp (aesthetic, open_clip).
  const clipDir = path.join(dir, 'clip');
  await writeTokenizer(clipDir);
  const clip = await exportStandIn('export_clip.py', clipDir, { pixel_values: tensors('hf_clip'), ...(await ids(clipDir)) }, [
    '--image-size',
    String(S),
    '--max-tokens',
    '6',
  ]);
  await fs.writeFile(
    path.join(dir, 'clip.yaml'),
    `kind: clip\nmodel_dir: clip\nfiles: {vision: onnx/vision_model.onnx, text: onnx/text_model.onnx, tokenizer: tokenizer.json}\nscore: {scale: 100}\n${common('hf_clip')}`,
  );
  const [img, txt] = [rows(clip.vision![0]!, photos.length), rows(clip.text![0]!, photos.length)];
  close(
    await score(path.join(dir, 'clip.yaml')),
    img.map((v, i) => 100 * unit(v).reduce((s, x, k) => s + x * unit(txt[i]!)[k]!, 0)),
    'clip',
  );

  const aDir = path.join(dir, 'aesthetic');
  const vision = await exportStandIn('export_clip.py', aDir, { pixel_values: tensors('open_clip') }, [
    '--image-size',
    String(S),
    '--vision-only',
  ]);
  const embeds = rows(vision.vision![0]!, photos.length).map(unit);
  const mlp = await exportStandIn(
    'export_aesthetic_mlp.py',
    aDir,
    { embedding: { shape: [photos.length, embeds[0]!.length], data: embeds.flat() } },
    [],
  );
  await fs.writeFile(
    path.join(dir, 'aesthetic.yaml'),
    `kind: clip-mlp\nmodel_dir: aesthetic\nfiles: {vision: onnx/vision_model.onnx, mlp: aesthetic_mlp.safetensors}\n${common('open_clip')}`,
  );
  close(await score(path.join(dir, 'aesthetic.yaml')), mlp.mlp![0]!, 'clip-mlp');

  // blip-reward (ImageReward, blip) and vqa (hpsv2_eval here, to cover the letterbox end to end).
  const irDir = path.join(dir, 'ir');
  await writeTokenizer(irDir);
  const ir = await exportStandIn('export_imagereward.py', irDir, { pixel_values: tensors('blip'), ...(await ids(irDir)) }, [
    '--image-size',
    String(S),
    '--max-tokens',
    '6',
  ]);
  await fs.writeFile(
    path.join(dir, 'ir.yaml'),
    `kind: blip-reward\nmodel_dir: ir\nfiles: {model: onnx/imagereward.onnx, tokenizer: tokenizer.json}\nscore: {mean: 0.16717362830052426, std: 1.0333394966054072}\n${common('blip')}`,
  );
  close(
    await score(path.join(dir, 'ir.yaml')),
    ir.reward![0]!.map((r) => (r - 0.16717362830052426) / 1.0333394966054072),
    'blip-reward',
  );

  const vqaDir = path.join(dir, 'vqa');
  await writeTokenizer(vqaDir);
  const vqa = await exportStandIn('export_vqascore.py', vqaDir, { pixel_values: tensors('hpsv2_eval'), ...(await ids(vqaDir)) }, [
    '--image-size',
    String(S),
    '--max-tokens',
    '6',
  ]);
  await fs.writeFile(
    path.join(dir, 'vqa.yaml'),
    `kind: vqa\nmodel_dir: vqa\nfiles: {model: onnx/vqa.onnx, tokenizer: tokenizer.json}\nscore: {yes_token_id: 17}\n${common('hpsv2_eval')}`,
  );
  const yes = rows(vqa.logits![0]!, photos.length).map((l) => {
    const m = Math.max(...l);
    return Math.exp(l[17]! - m) / l.reduce((s, x) => s + Math.exp(x - m), 0);
  });
  close(await score(path.join(dir, 'vqa.yaml')), yes, 'vqa');
});
