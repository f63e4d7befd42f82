// `miro sample MODEL_DIR --prompt "..."`: samples from a trained model (a train node's `model/`
// folder) with a guidance preset, optional custom targets and best-of-N, into a contact sheet.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadTf } from '../model/backend.js';
import { loadModel } from '../model/io.js';
import { sampleImages, guidancePreset, loadFrozen } from '../model/sampler.js';
import { pixelSize } from '../model/config.js';
import { contactSheet } from '../synth/contact-sheet.js';
import { scoreImages } from '../eval/judge.js';
import { MiroError } from '../errors.js';

function parseTargets(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!k || !(n >= 0 && n <= 1)) throw new MiroError(`--target ${part}: expected reward=value with value in [0, 1]`);
    out[k] = n;
  }
  return out;
}

export default async function sample(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      prompt: { type: 'string', multiple: true },
      preset: { type: 'string', default: 'all' },
      target: { type: 'string' },
      guidance: { type: 'string', default: '3' },
      'negative-caption': { type: 'string', default: 'same' },
      n: { type: 'string', default: '1' },
      'best-of': { type: 'string' },
      steps: { type: 'string', default: '50' },
      seed: { type: 'string', default: '0' },
      out: { type: 'string', default: 'samples.png' },
      backend: { type: 'string' },
    },
  });
  const dir = positionals[0];
  if (!dir || !values.prompt?.length)
    throw new MiroError(
      'usage: miro sample MODEL_DIR --prompt "..." [--prompt ...] [--preset all|only:<r>|pair:<a>,<b>,<u>|custom] [--target r=v,...] [--guidance w] [--n N] [--best-of REWARD] [--out FILE.png]',
    );
  const n = Number(values.n);
  const guidance = Number(values.guidance);
  if (!Number.isInteger(n) || n < 1) throw new MiroError(`--n expects a positive integer, got ${values.n}`);
  const { tf } = await loadTf(values.backend, (m) => console.error(m));
  const modelDir = (await fs.stat(path.join(dir, 'model')).catch(() => null))?.isDirectory() ? path.join(dir, 'model') : dir;
  const { cfg, params } = await loadModel(tf, modelDir);
  const frozen = await loadFrozen(cfg);
  const P = pixelSize(cfg);
  const custom = parseTargets(values.target);
  const preset = Object.keys(custom).length && values.preset === 'all' ? 'custom' : values.preset!;
  const g = cfg.rewards.length ? guidancePreset(preset, cfg.rewards, custom) : null;
  const prompts = values.prompt.flatMap((p) => Array.from({ length: n }, () => p));
  const images = await sampleImages(
    tf,
    cfg,
    params,
    {
      captions: prompts,
      positive: prompts.map(() => g?.positive ?? []),
      negative: g ? prompts.map(() => g.negative) : null,
      guidance: g ? guidance : 0,
      negativeCaption: values['negative-caption'] === 'empty' ? 'empty' : 'same',
      steps: Number(values.steps),
      seed: Number(values.seed),
    },
    frozen,
  );
  let keep = images;
  if (values['best-of']) {
    const reward = values['best-of'];
    const scores = (
      await scoreImages(
        images.map((data) => ({ width: P, height: P, data })),
        prompts,
        [reward],
      )
    )[reward];
    if (!scores) throw new MiroError(`--best-of ${reward}: no built-in scorer of that name`);
    keep = values.prompt.map((_, i) => {
      const idx = Array.from({ length: n }, (_, k) => i * n + k);
      const best = idx.reduce((a, b) => ((scores[b] ?? -Infinity) > (scores[a] ?? -Infinity) ? b : a));
      console.error(`${values.prompt![i]}: best of ${n} by ${reward} = ${scores[best]}`);
      return images[best]!;
    });
  }
  const labels = values['best-of'] ? values.prompt : prompts;
  const title = `${dir} (${cfg.variant}): ${g ? `${preset}, w=${guidance}` : 'no guidance'}${values['best-of'] ? `, best of ${n} by ${values['best-of']}` : ''}, ${values.steps} steps, seed ${values.seed}`;
  await fs.writeFile(
    values.out!,
    await contactSheet(keep, P, { columns: values['best-of'] ? keep.length : n, scale: Math.max(1, Math.round(128 / P)), title, labels }),
  );
  console.log(`${keep.length} image(s) -> ${values.out} (${cfg.variant}, ${g ? `${preset}, w=${guidance}` : 'no guidance'})`);
  return 0;
}
