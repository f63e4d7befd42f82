// `sample`: images from a trained model for a list of prompts under one or more guidance
// settings (named presets: all, only:<reward>, pair:<a>,<b>,<u>, custom), several samples per
// prompt for best-of-N. Rows carry the prompt, the targets, the guidance, the seed and the PNG;
// a contact sheet per setting lands in the node folder.

import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { p } from './params.js';
import { defineStage } from './types.js';
import { loadTf } from '../model/backend.js';
import { loadModel } from '../model/io.js';
import { sampleImages, loadFrozen } from '../model/sampler.js';
import { guidanceRequest, type Guidance } from '../model/guidance.js';
import { pixelSize } from '../model/config.js';
import { decodeImage, encodePng } from '../util/image.js';
import { sha256, sha256File } from '../util/hash.js';
import type { Batch } from '../store/batch.js';
import { contactSheet } from '../synth/contact-sheet.js';
import { queryBatches, queryRows, sqlFileList, sqlString, writeParquet } from '../store/duck.js';
import { StageError } from '../errors.js';
import { heldOutSql } from '../train/loader.js';

export interface PromptRow {
  id: string;
  prompt: string;
  tag: string | null;
}

const SETTING_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const setting = p.object(
  {
    name: p.string({ doc: 'setting name, used in ids and reports' }),
    preset: p.string({
      doc: 'all | only:<reward> | pair:<a>,<b>,<u> | custom (these need reward tokens) | text (text-only guidance: the negative branch has the empty caption) | none (no guidance)',
      default: 'all',
    }),
    guidance: p.number({ doc: 'w', default: 3 }),
    targets: p.record(p.number({ doc: 'target', min: 0, max: 1 }), { doc: 'custom s+ per reward (others 1)', default: {} }),
    negative_caption: p.enum(['same', 'empty'] as const, { doc: 'caption of the negative branch', default: 'same' }),
    prompts_every: p.int({ doc: "this setting's every k-th prompt of the file (default: the node's prompts_every)", min: 0, default: 0 }),
  },
  { doc: 'a guidance setting' },
);

export const sample = defineStage({
  kind: 'sample',
  version: 3,
  doc: 'Samples from a trained model under named guidance settings.',
  mode: 'global',
  ownProcess: true,
  outputs: ['_contact', 'contact'], // and the folder an older version named without the _
  params: {
    model: p.string({ doc: 'the train node whose model to sample' }),
    prompts_file: p.string({ doc: 'JSONL of prompts ({id, prompt, tag}), e.g. configs/geneval-mini.jsonl', default: '' }),
    prompts_every: p.int({ doc: 'use every k-th prompt of the file (keeps every tag represented)', min: 1, default: 1 }),
    captions: p.optionalColumn({ doc: 'or: prompts from an upstream caption column, rows held out from training only' }),
    captions_limit: p.int({ doc: 'how many held-out captions', min: 1, default: 64 }),
    holdout: p.number({ doc: 'the held-out fraction the train node used', min: 0, max: 0.5, default: 0.05 }),
    settings: p.list(setting, { doc: 'guidance settings', minItems: 1 }),
    samples_per_prompt: p.int({ doc: 'samples per prompt and setting (best-of-N uses them)', min: 1, default: 1 }),
    steps: p.int({ doc: 'Euler steps', min: 1, default: 50 }),
    batch_size: p.int({ doc: 'prompts per sampler call', min: 1, default: 64 }),
    backend: p.string({ doc: 'TensorFlow.js backend', default: '' }),
  },
  needs: { min: 1 },
  rowsCanFail: false,
  columns: () => [
    { name: 'model', type: 'VARCHAR' },
    { name: 'variant', type: 'VARCHAR' },
    { name: 'setting', type: 'VARCHAR' },
    { name: 'prompt_id', type: 'VARCHAR' },
    { name: 'prompt', type: 'VARCHAR' },
    { name: 'tag', type: 'VARCHAR' },
    { name: 'sample_index', type: 'INTEGER' },
    { name: 'preset', type: 'VARCHAR' },
    { name: 'guidance', type: 'DOUBLE' },
    { name: 'targets', type: 'VARCHAR' },
    { name: 'seed', type: 'INTEGER' },
    /** The sample's noise is drawn from (seed, noise_index): the same pair gives the same image. */
    { name: 'noise_index', type: 'INTEGER' },
    { name: 'image', type: 'BLOB' },
  ],
  // A setting's name names its contact sheet and its rows' ids: a plain name, never a path.
  validate: (prm) => {
    const bad = prm.settings.find((s) => !SETTING_NAME.test(s.name));
    if (bad) return `settings: "${bad.name}" is not a setting name (letters, digits, '_', '-' and '.', starting with a letter or digit)`;
    const names = prm.settings.map((s) => s.name);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    return twice ? `settings: "${twice}" is named twice` : null;
  },
  reads: (prm) => (prm.captions ? [prm.captions] : []),
  identity: (prm) => (prm.prompts_file ? { prompts: readFileSync(prm.prompts_file, 'utf8') } : null),

  async *run(ctx) {
    const prm = ctx.params;
    if (!ctx.needs.includes(prm.model)) throw new StageError(ctx.node, 0, `with.model: ${prm.model} is not in needs`);
    const prompts = await loadPrompts(ctx);
    if (prompts.length === 0) throw new StageError(ctx.node, 0, 'no prompts: set with.prompts_file or with.captions');
    const { tf } = await loadTf(prm.backend, ctx.log);
    const { cfg, params } = await loadModel(tf, ctx.inputs.layout(prm.model).modelDir());
    const frozen = await loadFrozen(cfg);
    const P = pixelSize(cfg);
    const seed = ctx.pipeline.seed;
    let done = 0;
    // Prompts from a file: each setting takes every k-th (its own k, or the node's).
    const promptsOf = (s: (typeof prm.settings)[number]) => {
      const every = prm.prompts_file ? s.prompts_every || prm.prompts_every : 1;
      return prompts.filter((_, i) => i % every === 0);
    };
    const total = prm.settings.reduce((a, s) => a + promptsOf(s).length, 0) * prm.samples_per_prompt;
    const guidanceOf = (s: (typeof prm.settings)[number]): Guidance => {
      try {
        return guidanceRequest(cfg.rewards, {
          preset: s.preset,
          guidance: s.guidance,
          targets: s.targets,
          negativeCaption: s.negative_caption as 'same' | 'empty',
        });
      } catch (err) {
        throw new StageError(ctx.node, 0, `setting ${s.name}: ${(err as Error).message}`);
      }
    };
    const writeSheet = async (name: string, title: string, sheet: Float32Array[], labels: string[]) => {
      const file = path.join(ctx.layout.contactDir(), `${name}.png`);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, await contactSheet(sheet, P, { columns: 8, scale: Math.max(1, Math.round(128 / P)), title, labels }));
    };
    // Each finished setting is kept in _cache/ until the shard commits, so a run killed while
    // sampling loses at most the setting it was in: the next run reads the finished ones back.
    // The key names the model's weights and everything that decides the samples.
    const modelHash = await sha256File(path.join(ctx.inputs.layout(prm.model).modelDir(), 'ema.safetensors'));
    const cacheOf = (s: (typeof prm.settings)[number]) =>
      path.join(
        ctx.layout.cacheDir(),
        `sample-${s.name}-${sha256(JSON.stringify({ modelHash, s, prompts: promptsOf(s), n: prm.samples_per_prompt, steps: prm.steps, seed, batch: prm.batch_size })).slice(0, 16)}.parquet`,
      );
    const keep = new Set(prm.settings.map((s) => path.basename(cacheOf(s))));
    for (const f of await fs.readdir(ctx.layout.cacheDir()).catch(() => [] as string[]))
      if (/^sample-.*\.parquet$/.test(f) && !keep.has(f)) await fs.rm(path.join(ctx.layout.cacheDir(), f), { force: true });
    for (const s of prm.settings) {
      const cached = cacheOf(s);
      if (existsSync(cached)) {
        const sheet: Float32Array[] = [];
        const sheetLabels: string[] = [];
        let rows = 0;
        for await (const b of queryBatches(ctx.duck, `SELECT * FROM read_parquet(${sqlString(cached)}) ORDER BY noise_index`)) {
          for (let i = 0; i < b.rows && sheet.length < 64; i++) {
            sheet.push((await decodeImage((b.columns.image as Uint8Array[])[i]!)).data);
            sheetLabels.push(String((b.columns.prompt as string[])[i]));
          }
          rows += b.rows;
          done += b.rows;
          ctx.progress(done, total);
          yield b;
        }
        ctx.log(`setting ${s.name}: ${rows} samples read back from an interrupted run (${path.relative(ctx.dir, cached)})`);
        await writeSheet(
          s.name,
          `${prm.model} (${cfg.variant}), setting ${s.name}: ${describeGuidance(guidanceOf(s), cfg.rewards)}, ${prm.steps} steps, seed ${seed}`,
          sheet,
          sheetLabels,
        );
        continue;
      }
      const made: Batch[] = [];
      const g = guidanceOf(s);
      const guided = g.negative !== null;
      const jobs = promptsOf(s).flatMap((q) => Array.from({ length: prm.samples_per_prompt }, (_, k) => ({ q, k })));
      const sheet: Float32Array[] = [];
      const sheetLabels: string[] = [];
      for (let start = 0; start < jobs.length; start += prm.batch_size) {
        const part = jobs.slice(start, start + prm.batch_size);
        const images = await sampleImages(
          tf,
          cfg,
          params,
          {
            captions: part.map((j) => j.q.prompt),
            positive: part.map(() => g.positive),
            negative: g.negative && part.map(() => g.negative!),
            guidance: g.guidance,
            negativeCaption: g.negativeCaption,
            steps: prm.steps,
            seed,
            offset: start,
          },
          frozen,
        );
        const pngs = await Promise.all(images.map((img) => encodePng(img, P, P)));
        images.forEach((img, i) => {
          if (sheet.length >= 64) return;
          sheet.push(img);
          sheetLabels.push(part[i]!.q.prompt);
        });
        done += part.length;
        ctx.progress(done, total);
        const batch: Batch = {
          rows: part.length,
          columns: {
            id: part.map((j) => `${ctx.node}/${s.name}/${j.q.id}/${j.k}`),
            model: part.map(() => prm.model),
            variant: part.map(() => cfg.variant),
            setting: part.map(() => s.name),
            prompt_id: part.map((j) => j.q.id),
            prompt: part.map((j) => j.q.prompt),
            tag: part.map((j) => j.q.tag),
            sample_index: Int32Array.from(part, (j) => j.k),
            preset: part.map(() => (guided ? s.preset : 'none')),
            guidance: part.map(() => (guided ? s.guidance : 0)),
            targets: part.map(() =>
              JSON.stringify(
                Object.fromEntries(
                  cfg.rewards.map((r, i) => [r, { positive: g.positive[i], negative: g.negative ? g.negative[i] : null }]),
                ),
              ),
            ),
            seed: part.map(() => seed),
            noise_index: Int32Array.from(part, (_, i) => start + i),
            image: pngs,
          },
        };
        made.push(batch);
        yield batch;
      }
      await fs.mkdir(path.dirname(cached), { recursive: true });
      await writeParquet([{ name: 'id', type: 'VARCHAR' }, ...sample.columns(prm)], made, cached, {
        context: `${ctx.node} setting ${s.name}`,
      });
      await writeSheet(
        s.name,
        `${prm.model} (${cfg.variant}), setting ${s.name}: ${describeGuidance(g, cfg.rewards)}, ${prm.steps} steps, seed ${seed}`,
        sheet,
        sheetLabels,
      );
    }
    tf.dispose([...params.values()]);
  },
});

async function loadPrompts(ctx: Parameters<NonNullable<typeof sample.run>>[0]): Promise<PromptRow[]> {
  const prm = ctx.params;
  if (prm.prompts_file) {
    let lines: string[];
    try {
      lines = readFileSync(prm.prompts_file, 'utf8')
        .split('\n')
        .filter((l) => l.trim());
    } catch (err) {
      throw new StageError(ctx.node, 0, `with.prompts_file: cannot read ${prm.prompts_file} (${(err as Error).message})`);
    }
    const rows = lines.map((l, i) => {
      try {
        const o = JSON.parse(l) as { id?: string; prompt?: string; tag?: string };
        if (typeof o.prompt !== 'string') throw new Error('no "prompt" string');
        return { id: o.id ?? String(i), prompt: o.prompt, tag: o.tag ?? null };
      } catch (err) {
        throw new StageError(ctx.node, 0, `${prm.prompts_file}:${i + 1}: ${(err as Error).message}`);
      }
    });
    return rows;
  }
  if (prm.captions) {
    const rows = await queryRows(
      ctx.duck,
      `SELECT id, "${prm.captions.column}" AS prompt FROM read_parquet(${sqlFileList(ctx.inputs.files(prm.captions.node))}) WHERE "${prm.captions.column}" IS NOT NULL AND ${heldOutSql(ctx.pipeline.seed, prm.holdout)} ORDER BY md5(id || ':prompts'), id LIMIT ${prm.captions_limit}`,
    );
    return rows.map((r) => ({ id: String(r.id), prompt: String(r.prompt), tag: null }));
  }
  return [];
}

/** One line for a contact sheet's title: the preset, w, and the targets of both branches where they differ from 1 and 0. */
function describeGuidance(g: Guidance, rewards: string[]): string {
  const { preset, guidance: w } = g;
  const negative = g.negative ?? [];
  if (preset === 'none') return rewards.length ? 'no guidance, every target 1' : 'no guidance';
  if (preset === 'text') return `text-only guidance w=${w} (negative branch: empty caption)`;
  const fmt = (xs: (number | null)[]) => rewards.map((r, i) => `${r.slice(0, 5)}=${xs[i]}`).join(' ');
  return `${preset} w=${w}; s+ ${fmt(g.positive)}; s- ${fmt(negative)}`;
}
