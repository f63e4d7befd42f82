// `train`: trains a MIRO model (or the baseline, or a single-reward model) with flow matching on
// (image, caption, reward targets) streamed from the pipeline's Parquet. Its rows are per-step
// metrics (loss, lr, grad norm, examples/s, and periodic evaluations), queryable with SQL; the
// node folder holds checkpoints and the final model. A killed run resumes from its last
// checkpoint and continues the same loss curve.

import path from 'node:path';
import { readFileSync, readdirSync } from 'node:fs';
import { sha256 } from '../util/hash.js';
import { MiroError, StageError } from '../errors.js';
import { readReleaseManifest } from '../store/release-manifest.js';
import { p } from './params.js';
import { defineStage, type Column, type ColumnRef, type ShardContext } from './types.js';
import { loadTf } from '../model/backend.js';
import { CONFIG_DIR, modelConfig, type FrozenModels, type ModelConfig } from '../model/config.js';
import { suggestion } from '../util/suggest.js';
import { parameterCount, type Params } from '../model/network.js';
import { loadSnapshot, trainWithTorch } from '../train/torch-engine.js';
import { ShardLoader, type LatentInputs } from '../train/loader.js';
import { unitsOf, type StreamColumn, type StreamPlan } from '../train/stream.js';
import type { LatentsState } from './latents.js';
import type { TextEmbedState } from './text-embed.js';
import { train as trainLoop } from '../train/loop.js';
import { saveModel } from '../model/io.js';
import { sampleImages } from '../model/sampler.js';
import { guidanceRequest } from '../model/guidance.js';
import { genevalPrompts } from '../synth/geneval.js';
import { scoreImages, judgeGeneval, mean } from '../eval/judge.js';
import { settings } from '../util/settings.js';

const params = {
  preset: p.string({ doc: 'model preset in configs/models/ (tiny, small, paper)', default: 'tiny' }),
  variant: p.string({ doc: 'miro (all reward tokens), baseline (none) or single:<reward>', default: 'miro' }),
  release: p.string({ doc: 'train from a release folder (miro release) instead of pipeline nodes', default: '' }),
  image: p.optionalColumn({ doc: 'image bytes' }),
  caption_real: p.optionalColumn({ doc: 'the real (alt-text) caption' }),
  caption_synthetic: p.optionalColumn({ doc: 'the synthetic long caption' }),
  latent_mean: p.optionalColumn({ doc: 'latent presets: the VAE latent mean from a latents node, e.g. latents.latent_mean' }),
  latent_std: p.optionalColumn({ doc: 'latent presets: the VAE latent std (training draws mean + std * noise)' }),
  text_real: p.optionalColumn({ doc: 'latent presets: text_embed states of the real caption, e.g. embed_real.embedding' }),
  text_synthetic: p.optionalColumn({ doc: 'latent presets: text_embed states of the synthetic caption' }),
  targets: p.record(p.column({ doc: 'target column' }), {
    doc: 'reward -> its target column from the bins node, e.g. aesthetic: bins.aesthetic_target',
    default: {},
  }),
  caption_dropout: p.number({
    doc: 'share of training captions replaced by the empty caption (enables text-only guidance; the official multi-reward recipe: 0)',
    min: 0,
    max: 1,
    default: 0,
  }),
  real_caption_ratio: p.number({ doc: 'share of real captions in training (the paper: 0.5)', min: 0, max: 1, default: 0.5 }),
  steps: p.int({ doc: 'optimiser steps', min: 1 }),
  batch_size: p.int({ doc: 'examples per step', min: 1, default: 32 }),
  lr: p.number({ doc: 'peak learning rate (AdamW)', min: 0, default: 1e-3 }),
  min_lr: p.number({ doc: 'learning rate at the end of the cosine decay', min: 0, default: 1e-4 }),
  warmup_steps: p.int({ doc: 'linear warmup steps', min: 0, default: 50 }),
  weight_decay: p.number({ doc: 'decoupled weight decay on matrices', min: 0, default: 0.01 }),
  clip_norm: p.number({ doc: 'global gradient-norm clip (0: off)', min: 0, default: 1 }),
  ema_decay: p.number({ doc: 'EMA decay of the weights', min: 0, max: 1, default: 0.99 }),
  time_sampling: p.enum(['uniform', 'logit_normal'] as const, {
    doc: 't ~ U(0,1), or sigmoid(N(0,1)) as the official code',
    default: 'logit_normal',
  }),
  holdout: p.number({ doc: 'fraction of rows held out for evaluation', min: 0, max: 0.5, default: 0.05 }),
  buffer_shards: p.int({
    doc: 'input shards read into memory at once and shuffled together (the stream holds one such window, never the dataset)',
    min: 1,
    default: 2,
  }),
  checkpoint_every: p.int({ doc: 'steps between checkpoints', min: 1, default: 100 }),
  keep_checkpoints: p.int({ doc: 'checkpoints kept on disk', min: 1, default: 2 }),
  eval_every: p.int({ doc: 'steps between evaluations with the EMA weights (0: only at the end)', min: 0, default: 0 }),
  eval_samples: p.int({ doc: 'held-out captions sampled per evaluation (plus 10 mini-GenEval prompts per tag)', min: 0, default: 32 }),
  eval_guidance: p.number({ doc: 'guidance w for evaluation samples (reward models; the baseline samples without)', default: 3 }),
  eval_steps: p.int({ doc: 'Euler steps for evaluation samples', min: 1, default: 20 }),
  backend: p.string({ doc: 'TensorFlow.js backend (default: the fastest that loads)', default: '' }),
  engine: p.enum(['tfjs', 'torch'] as const, {
    doc: 'tfjs: TensorFlow.js in this process; torch: PyTorch under torchrun (DDP, NCCL on GPUs, gloo on CPUs), same checkpoints',
    default: 'tfjs',
  }),
  python: p.string({ doc: 'engine torch: the Python with PyTorch (default: MIRO_PYTHON, else python3)', default: '' }),
  nproc_per_node: p.int({ doc: 'engine torch: ranks on each machine (one per GPU)', min: 1, default: 1 }),
  device: p.enum(['auto', 'cpu'] as const, { doc: 'engine torch: auto takes the GPUs where there are any', default: 'auto' }),
  launch: p.enum(['auto', 'external'] as const, {
    doc: 'engine torch: auto launches torchrun here (srun + torchrun inside a multi-node Slurm job); external writes _torch/plan.json for deploy/slurm/train-torch.sbatch and finishes once its last checkpoint is there',
    default: 'auto',
  }),
};

export const EVAL_COLUMNS = (rewards: string[]): Column[] => [
  ...rewards.map((r): Column => ({ name: `eval_${r}`, type: 'DOUBLE' })),
  { name: 'eval_geneval', type: 'DOUBLE' },
  // The same images judged against prompts shuffled within each tag: eval_geneval's chance level.
  { name: 'eval_geneval_chance', type: 'DOUBLE' },
];

export const train = defineStage({
  kind: 'train',
  version: 3,
  doc: 'Trains the MIRO network with flow matching; rows are per-step metrics.',
  mode: 'global',
  ownProcess: true,
  outputs: ['_checkpoints', '_model', '_torch', 'checkpoints', 'model', 'torch'], // and the folders an older version named without the _
  params,
  needs: { min: 0 },
  rowsCanFail: false,
  validate: (prm) => {
    const presets = readdirSync(CONFIG_DIR)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => f.slice(0, -5));
    if (!presets.includes(prm.preset))
      return `unknown preset "${prm.preset}"${suggestion(prm.preset, presets)} (configs/models/: ${presets.sort().join(', ')})`;
    const latent = isLatentPreset(prm.preset);
    if (latent) {
      if (prm.release) return `preset ${prm.preset} trains on latents and text embeddings from pipeline nodes, not from a release`;
      if (!prm.latent_mean || !prm.text_real || !Object.keys(prm.targets).length)
        return `preset ${prm.preset} trains on VAE latents with precomputed text: needs latent_mean (a latents node), text_real (a text_embed node) and targets`;
      if (prm.eval_samples > 0)
        return `preset ${prm.preset}: evaluation during training uses the demo's built-in judges on pixels; set eval_samples: 0 and sample with a sample node`;
      return null;
    }
    if (prm.latent_mean || prm.latent_std || prm.text_real || prm.text_synthetic)
      return `preset ${prm.preset} learns from pixels and captions; latent_mean, latent_std, text_real and text_synthetic are for latent presets (paper, paper-tiny)`;
    if (prm.release)
      return prm.image || prm.caption_real || Object.keys(prm.targets).length
        ? 'give either release or image, caption_real and targets, not both'
        : null;
    if (!prm.image || !prm.caption_real || !Object.keys(prm.targets).length) return 'needs image, caption_real and targets (or a release)';
    return null;
  },
  columns: (prm) => [
    { name: 'step', type: 'INTEGER' },
    { name: 'epoch', type: 'INTEGER' },
    { name: 'loss', type: 'DOUBLE' },
    { name: 'lr', type: 'DOUBLE' },
    { name: 'grad_norm', type: 'DOUBLE' },
    { name: 'examples_per_s', type: 'DOUBLE' },
    ...EVAL_COLUMNS(rewardsOf(prm)),
  ],
  reads: (prm) =>
    [
      prm.image,
      prm.caption_real,
      prm.caption_synthetic,
      prm.latent_mean,
      prm.latent_std,
      prm.text_real,
      prm.text_synthetic,
      ...Object.values(prm.targets),
    ].filter((r): r is ColumnRef => r !== null),
  identity: (prm) => ({
    model: modelConfig(prm.preset, prm.variant, rewardsOf(prm)),
    release: prm.release ? sha256(readFileSync(path.join(prm.release, 'release.json'))) : null,
  }),

  async *run(ctx) {
    const prm = ctx.params;
    const rewards = rewardsOf(prm);
    const { tf, backend } = await loadTf(prm.backend, ctx.log);
    const cfg = modelConfig(prm.preset, prm.variant, rewards);
    const latents = cfg.text.kind === 'precomputed' ? await latentInputs(ctx, cfg) : undefined;
    ctx.log(`${prm.variant} on preset ${prm.preset}: ${parameterCount(cfg).toLocaleString('en')} parameters, backend ${backend}`);
    const plan = prm.release ? releasePlan(prm.release, rewards, { ...prm, seed: ctx.pipeline.seed }) : streamPlan(ctx, latents?.inputs);
    const loader = new ShardLoader(ctx.duck, {
      plan,
      rewards,
      batchSize: prm.batch_size,
      imageSize: cfg.image_size,
      vocab: cfg.text.kind === 'learned' ? cfg.text.vocab : [],
      maxTokens: cfg.text.max_tokens,
      latents: latents?.inputs,
    });
    const sizes = await loader.open();
    ctx.log(`${sizes.trainRows} training rows, ${sizes.heldOut} held out`);
    const heldOut = await loader.heldOut(prm.eval_samples);
    const prompts = genevalPrompts().filter((_, i) => i % 60 < 10); // 10 a tag

    const evaluate = async (ema: Params, step: number): Promise<Record<string, number | null>> => {
      const captions = [...heldOut.map((r) => String(r.caption_synthetic ?? r.caption_real ?? '')), ...prompts.map((q) => q.prompt)];
      const g = guidanceRequest(cfg.rewards, { preset: cfg.rewards.length ? 'all' : 'none', guidance: prm.eval_guidance });
      const images = await sampleImages(tf, cfg, ema, {
        captions,
        positive: captions.map(() => g.positive),
        negative: g.negative && captions.map(() => g.negative!),
        guidance: g.guidance,
        negativeCaption: g.negativeCaption,
        steps: prm.eval_steps,
        seed: ctx.pipeline.seed + 1,
      });
      const rgb = images.map((data) => ({ width: cfg.image_size, height: cfg.image_size, data }));
      const scores = await scoreImages(rgb.slice(0, heldOut.length), captions.slice(0, heldOut.length), rewards);
      const out: Record<string, number | null> = Object.fromEntries(rewards.map((r) => [`eval_${r}`, mean(scores[r] ?? [])]));
      const geneval = judgeGeneval(prompts, rgb.slice(heldOut.length));
      out.eval_geneval = geneval.summary.overall;
      out.eval_geneval_chance = geneval.chance.overall;
      ctx.log(
        `step ${step}: eval ${Object.entries(out)
          .map(([k, v]) => `${k.slice(5)}=${v === null ? '-' : v.toFixed(3)}`)
          .join(' ')}`,
      );
      return out;
    };

    const dataSource = prm.release
      ? { kind: 'release', hash: sha256(readFileSync(path.join(prm.release, 'release.json'))) }
      : { kind: 'pipeline', hash: null };
    const optim = {
      lr: prm.lr,
      min_lr: prm.min_lr,
      warmup_steps: prm.warmup_steps,
      total_steps: prm.steps,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-8,
      weight_decay: prm.weight_decay,
      clip_norm: prm.clip_norm,
      ema_decay: prm.ema_decay,
    };
    const model = latents ? { ...cfg, frozen: latents.frozen } : cfg;
    const progress = (step: number, total: number, loss: number) =>
      ctx.progress(step, total, { unit: 'steps', note: `loss ${loss.toFixed(4)}` });
    let result: { params: Params; ema: Params; metrics: Record<string, number | null>[] };
    if (prm.engine === 'torch') {
      const torch = await trainWithTorch(
        tf,
        {
          dir: ctx.dir,
          model,
          optim,
          steps: prm.steps,
          batch_size: prm.batch_size,
          seed: ctx.pipeline.seed,
          time_sampling: prm.time_sampling,
          checkpoint_every: prm.checkpoint_every,
          keep_checkpoints: prm.keep_checkpoints,
          eval_every: prm.eval_samples > 0 ? prm.eval_every || prm.steps : 0,
          data_source: dataSource,
          data: plan,
          device: prm.device,
        },
        {
          node: ctx.node,
          python: prm.python || settings().python,
          nprocPerNode: prm.nproc_per_node,
          external: prm.launch === 'external',
          log: ctx.log,
          progress,
        },
      );
      // The evaluations run here, with the same judges as the TensorFlow.js engine's.
      for (const snap of torch.evalSnapshots) {
        const row = torch.metrics.find((r) => r.step === snap.step);
        const ema = await loadSnapshot(tf, snap.file);
        if (row) Object.assign(row, await evaluate(ema, snap.step));
        tf.dispose([...ema.values()]);
      }
      result = torch;
    } else
      result = await trainLoop(tf, loader, {
        node: ctx.node,
        dir: ctx.dir,
        model,
        datasetRewards: rewards,
        optim,
        steps: prm.steps,
        batchSize: prm.batch_size,
        seed: ctx.pipeline.seed,
        timeSampling: prm.time_sampling,
        checkpointEvery: prm.checkpoint_every,
        keepCheckpoints: prm.keep_checkpoints,
        evalEvery: prm.eval_every || prm.steps,
        dataSource,
        backend,
        evaluate: prm.eval_samples > 0 ? evaluate : undefined,
        log: ctx.log,
        progress,
      });
    await saveModel(
      ctx.layout.modelDir(),
      model,
      { ema: result.ema, model: result.params },
      {
        steps: String(prm.steps),
        backend: prm.engine === 'torch' ? 'torch' : backend,
        data: dataSource.kind,
        data_sha256: dataSource.hash ?? '',
      },
    );
    const cols = ['step', 'epoch', 'loss', 'lr', 'grad_norm', 'examples_per_s', ...EVAL_COLUMNS(rewards).map((c) => c.name)];
    const rows = result.metrics;
    yield {
      rows: rows.length,
      columns: Object.fromEntries([
        ['id', rows.map((r) => `step-${String(r.step).padStart(7, '0')}`)],
        ...cols.map((c) => [c, rows.map((r) => r[c] ?? null)]),
      ]),
    };
  },
});

/** The rewards a train node conditions on: its targets, or the release's rewards. */
function rewardsOf(prm: { release: string; targets: Record<string, ColumnRef> }): string[] {
  if (!prm.release) return Object.keys(prm.targets);
  try {
    return readReleaseManifest(prm.release).rewards;
  } catch (err) {
    throw new MiroError(`with.release: ${(err as Error).message}`);
  }
}

/** The stream over a release: each data file is a unit, with its embedded images, captions and recorded targets. */
function releasePlan(dir: string, rewards: string[], prm: StreamSettings): StreamPlan {
  const m = readReleaseManifest(dir);
  if (m.layout === 'webdataset')
    throw new MiroError(`release ${dir} is webdataset tar shards (for the official trainer); train from a Parquet release`);
  if (m.images !== 'embed') throw new MiroError(`release ${dir} keeps images as paths; cut it with --images embed to train from it`);
  const files = m.files.filter((f) => f.path.startsWith('data/')).map((f) => path.join(dir, f.path));
  const col = (column: string, field?: string): StreamColumn => ({ node: 'release', column, status: false, ...(field ? { field } : {}) });
  return {
    ...streamSettings(prm),
    driver: 'image',
    columns: {
      image: m.format === 'miro-release/2' ? col('image', 'bytes') : col('image'), // 2: the {bytes, path} struct
      caption_real: col('caption'),
      caption_synthetic: col('caption_long'),
      ...Object.fromEntries(rewards.map((r) => [`target_${r}`, col(`${r}_target`)])),
    },
    units: files.map((f) => ({ release: [f] })),
  };
}

interface StreamSettings {
  holdout: number;
  buffer_shards: number;
  real_caption_ratio: number;
  caption_dropout: number;
  seed: number;
}

function streamSettings(prm: StreamSettings): Omit<StreamPlan, 'driver' | 'columns' | 'units'> {
  return {
    seed: prm.seed,
    holdout: prm.holdout,
    buffer_units: prm.buffer_shards,
    real_caption_ratio: prm.real_caption_ratio,
    caption_dropout: prm.caption_dropout,
  };
}

/** Whether a preset trains on VAE latents with precomputed text (paper, paper-tiny). */
function isLatentPreset(preset: string): boolean {
  try {
    return modelConfig(preset, 'baseline', []).text.kind === 'precomputed';
  } catch {
    return false; // an unknown preset is reported by identity() with the list of presets
  }
}

type TrainCtx = ShardContext<{
  holdout: number;
  buffer_shards: number;
  real_caption_ratio: number;
  caption_dropout: number;
  image: ColumnRef | null;
  caption_real: ColumnRef | null;
  caption_synthetic: ColumnRef | null;
  latent_mean: ColumnRef | null;
  latent_std: ColumnRef | null;
  text_real: ColumnRef | null;
  text_synthetic: ColumnRef | null;
  targets: Record<string, ColumnRef>;
}>;

/**
 * What the latents and text_embed nodes recorded in their manifests, checked against the preset:
 * the loader's shapes and normalisation, and the frozen models the sampler will load.
 */
async function latentInputs(ctx: TrainCtx, cfg: ModelConfig): Promise<{ inputs: LatentInputs; frozen: FrozenModels }> {
  const prm = ctx.params;
  const lat = (await ctx.inputs.manifestState(prm.latent_mean!.node)) as LatentsState | undefined;
  if (!lat?.normalization) throw new StageError(ctx.node, 0, `with.latent_mean: ${prm.latent_mean!.node} is not a latents node`);
  const want = [cfg.channels, cfg.image_size, cfg.image_size];
  if (lat.shape.join() !== want.join())
    throw new StageError(
      ctx.node,
      0,
      `preset ${cfg.preset} trains on ${want.join('x')} latents (channels x image_size x image_size), but ${prm.latent_mean!.node} stores ${lat.shape.join('x')}`,
    );
  const texts = [prm.text_real!, prm.text_synthetic].filter((r): r is ColumnRef => r !== null);
  const states = await Promise.all(
    texts.map(async (r) => ({ r, s: (await ctx.inputs.manifestState(r.node)) as TextEmbedState | undefined })),
  );
  for (const { r, s } of states) {
    if (!s?.embed_dim) throw new StageError(ctx.node, 0, `${r.node}.${r.column}: ${r.node} is not a text_embed node`);
    if (cfg.text.kind === 'precomputed' && s.embed_dim !== cfg.text.embed_dim)
      throw new StageError(
        ctx.node,
        0,
        `preset ${cfg.preset} reads ${cfg.text.embed_dim}-wide text states, but ${r.node} stores ${s.embed_dim}`,
      );
    if (s.config !== states[0]!.s!.config)
      throw new StageError(
        ctx.node,
        0,
        `text_real and text_synthetic come from different text encoders (${states[0]!.s!.config}, ${s.config})`,
      );
  }
  const text = states[0]!.s!;
  return {
    inputs: { shape: lat.shape, normalization: lat.normalization, embedDim: text.embed_dim },
    frozen: {
      text_encoder: { name: text.encoder, config: text.config },
      vae: { name: lat.vae, config: lat.config, resolution: lat.resolution, normalization: lat.normalization },
    },
  };
}

/**
 * The stream over the pipeline's nodes: the images (or latents) decide the rows and the units;
 * captions, text states and targets join by id, shard by shard where the shards line up.
 */
function streamPlan(ctx: TrainCtx, latents: LatentInputs | undefined): StreamPlan {
  const prm = ctx.params;
  const columns: Record<string, StreamColumn> = {};
  const optional = ['latent_mean', 'latent_std', 'text_real', 'text_synthetic', 'image', 'caption_real', 'caption_synthetic'] as const;
  const refOf = (r: ColumnRef): StreamColumn => ({ node: r.node, column: r.column, status: ctx.inputs.columns(r.node).includes('status') });
  for (const k of optional) if (prm[k]) columns[k] = refOf(prm[k]);
  for (const [r, ref] of Object.entries(prm.targets)) columns[`target_${r}`] = refOf(ref);
  const driver = latents ? 'latent_mean' : 'image';
  const nodes = [...new Set(Object.values(columns).map((c) => c.node))];
  const filesOf = Object.fromEntries(nodes.map((n) => [n, ctx.inputs.files(n)]));
  return {
    ...streamSettings({ ...prm, seed: ctx.pipeline.seed }),
    driver,
    columns,
    units: unitsOf(filesOf[columns[driver]!.node]!, filesOf),
    ...(latents ? { latent_shape: latents.shape, normalization: latents.normalization } : {}),
  };
}
