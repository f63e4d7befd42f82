// `miro sample MODEL_DIR --prompt "..."`: samples from a trained model (a train node's folder or
// its `model/`) with a guidance preset, optional custom targets and best-of-N, into a contact sheet.

import { promises as fs } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { guidanceRequest, PRESETS_HELP } from '../model/guidance.js';
import { MiroError } from '../errors.js';
import { NodeLayout } from '../store/layout.js';
import { collect, int, number } from './args.js';

interface SampleOptions {
  prompt: string[];
  preset?: string;
  target?: Record<string, number>;
  guidance: number;
  negativeCaption: 'same' | 'empty';
  n: number;
  bestOf?: string;
  steps: number;
  seed: number;
  out: string;
  backend?: string;
}

/** `reward=value,...` with each value in [0, 1]. */
function targets(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!k || v === undefined || v.trim() === '' || !(n >= 0 && n <= 1))
      throw new InvalidArgumentError(`"${part}": expected reward=value with value in [0, 1]`);
    out[k] = n;
  }
  return out;
}

export default function register(program: Command): void {
  program
    .command('sample')
    .description('sample images from a trained model into a contact sheet')
    .argument('<model>', "a train node's folder (data/<pipeline>/<node>) or its model/ folder")
    .requiredOption('--prompt <text>', 'a prompt (repeatable)', collect)
    .option('--preset <preset>', `guidance preset: ${PRESETS_HELP} (default: all, or custom with --target; text for a baseline)`)
    .option(
      '--target <r=v,...>',
      'custom positive targets per reward, each in [0, 1] (with --preset custom, the default then; or text, none)',
      targets,
    )
    .option('--guidance <w>', 'guidance weight w', number(), 3)
    .addOption(new Option('--negative-caption <which>', "the negative branch's caption").choices(['same', 'empty']).default('same'))
    .option('--n <count>', 'samples per prompt', int({ min: 1 }), 1)
    .option('--best-of <reward>', 'keep the best of --n per prompt by this built-in reward')
    .option('--steps <count>', 'Euler steps', int({ min: 1 }), 50)
    .option('--seed <seed>', 'noise seed', int({ min: 0 }), 0)
    .option('--out <file>', 'contact sheet PNG to write', 'samples.png')
    .option('--backend <name>', 'TensorFlow.js backend (default: the fastest that loads)')
    .action(async (dir: string, o: SampleOptions) => {
      const { pixelSize } = await import('../model/config.js');
      const { loadTf } = await import('../model/backend.js');
      const { loadModel } = await import('../model/io.js');
      const { sampleImages, loadFrozen } = await import('../model/sampler.js');
      const { contactSheet } = await import('../synth/contact-sheet.js');
      const { scoreImages } = await import('../eval/judge.js');
      const { tf } = await loadTf(o.backend, (m) => console.error(m));
      // A train node's folder, or its model folder itself.
      const inNode = new NodeLayout(dir).modelDir();
      const modelDir = (await fs.stat(inNode).catch(() => null))?.isDirectory() ? inNode : dir;
      const { cfg, params } = await loadModel(tf, modelDir);
      const frozen = await loadFrozen(cfg);
      const P = pixelSize(cfg);
      if (o.target && o.preset !== undefined && !['custom', 'text', 'none'].includes(o.preset))
        throw new MiroError(`--target sets the positive targets of --preset custom (or text, none), not of --preset ${o.preset}`);
      const preset = o.preset ?? (o.target ? 'custom' : cfg.rewards.length ? 'all' : 'text');
      const g = guidanceRequest(cfg.rewards, { preset, guidance: o.guidance, targets: o.target, negativeCaption: o.negativeCaption });
      if (o.bestOf && o.n < 2) throw new MiroError('--best-of needs --n of 2 or more samples per prompt');
      const prompts = o.prompt.flatMap((p) => Array.from({ length: o.n }, () => p));
      const images = await sampleImages(
        tf,
        cfg,
        params,
        {
          captions: prompts,
          positive: prompts.map(() => g.positive),
          negative: g.negative && prompts.map(() => g.negative!),
          guidance: g.guidance,
          negativeCaption: g.negativeCaption,
          steps: o.steps,
          seed: o.seed,
        },
        frozen,
      );
      let keep = images;
      if (o.bestOf) {
        const reward = o.bestOf;
        const scores = (
          await scoreImages(
            images.map((data) => ({ width: P, height: P, data })),
            prompts,
            [reward],
          )
        )[reward];
        if (!scores) throw new MiroError(`--best-of ${reward}: no built-in scorer of that name`);
        keep = o.prompt.map((_, i) => {
          const idx = Array.from({ length: o.n }, (_, k) => i * o.n + k);
          const best = idx.reduce((a, b) => ((scores[b] ?? -Infinity) > (scores[a] ?? -Infinity) ? b : a));
          console.error(`${o.prompt[i]}: best of ${o.n} by ${reward} = ${scores[best]}`);
          return images[best]!;
        });
      }
      const labels = o.bestOf ? o.prompt : prompts;
      const title = `${dir} (${cfg.variant}): ${g.negative ? `${preset}, w=${o.guidance}` : 'no guidance'}${o.bestOf ? `, best of ${o.n} by ${o.bestOf}` : ''}, ${o.steps} steps, seed ${o.seed}`;
      await fs.writeFile(
        o.out,
        await contactSheet(keep, P, { columns: o.bestOf ? keep.length : o.n, scale: Math.max(1, Math.round(128 / P)), title, labels }),
      );
      console.log(`${keep.length} image(s) -> ${o.out} (${cfg.variant}, ${g.negative ? `${preset}, w=${o.guidance}` : 'no guidance'})`);
    });
}
