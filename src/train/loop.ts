// The training loop, top to bottom: build or restore the model and optimiser, then per step draw
// a batch, noise and times, take the flow-matching loss and its gradients, update, log metrics,
// evaluate and checkpoint every K steps. No trainer framework, no callbacks.

import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../model/backend.js';
import type { ModelConfig } from '../model/config.js';
import { initParams, forward, type Params } from '../model/network.js';
import { interpolate, flowLoss, sampleTime, type TimeSampling } from '../model/flow.js';
import { AdamW, type OptimConfig } from './optim.js';
import { saveCheckpoint, latestCheckpoint, type CheckpointState } from './checkpoint.js';
import type { ShardLoader } from './loader.js';
import { Rng, deriveSeed } from '../util/random.js';
import { StageError } from '../errors.js';

export interface TrainOptions {
  node: string;
  dir: string;
  model: ModelConfig;
  optim: OptimConfig;
  steps: number;
  batchSize: number;
  /** The loader's reward order; the model reads the subset named in its config. */
  datasetRewards: string[];
  seed: number;
  timeSampling: TimeSampling;
  checkpointEvery: number;
  keepCheckpoints: number;
  evalEvery: number;
  dataSource: CheckpointState['data_source'];
  /** The TensorFlow.js backend in use, recorded in every checkpoint. */
  backend: string;
  /** Optional evaluation with the EMA weights; its figures join that step's metrics row. */
  evaluate?: (params: Params, step: number) => Promise<Record<string, number | null>>;
  log: (m: string) => void;
  progress: (step: number, total: number, loss: number) => void;
}

export interface TrainResult {
  params: Params;
  ema: Params;
  metrics: Record<string, number | null>[];
  resumedFrom: number | null;
}

function restore(
  tf: Tf,
  target: Map<string, import('@tensorflow/tfjs').Variable>,
  saved: Map<string, { shape: number[]; data: Float32Array }>,
  what: string,
): void {
  for (const [name, v] of target) {
    const s = saved.get(name);
    if (!s || s.shape.join() !== v.shape.join())
      throw new StageError(what, undefined, `checkpoint tensor ${name} is missing or has another shape`);
    v.assign(tf.tensor(s.data, s.shape));
  }
}

export async function train(tf: Tf, loader: ShardLoader, o: TrainOptions): Promise<TrainResult> {
  const params = initParams(tf, o.model, deriveSeed(o.seed, 'init'));
  const adam = new AdamW(tf, o.optim, params);
  const rng = new Rng(deriveSeed(o.seed, 'noise'));
  let metrics: Record<string, number | null>[] = [];
  let start = 0;
  let resumedFrom: number | null = null;

  const ckpt = await latestCheckpoint(o.dir);
  if (ckpt) {
    if (JSON.stringify(ckpt.state.config) !== JSON.stringify(o.model))
      throw new StageError(o.node, 0, `checkpoint ${ckpt.dir} was made with another model config; remove it or use --force`);
    restore(tf, params, ckpt.tensors.model, o.node);
    restore(tf, adam.ema, ckpt.tensors.ema, o.node);
    restore(tf, adam.m, ckpt.tensors.adam_m, o.node);
    restore(tf, adam.v, ckpt.tensors.adam_v, o.node);
    loader.cursor = { ...ckpt.state.cursor };
    rng.state = ckpt.state.rng;
    metrics = ckpt.state.metrics;
    start = ckpt.state.step;
    resumedFrom = start;
    o.log(`resumed from ${ckpt.dir} (step ${start}, written on backend ${ckpt.state.backend ?? 'unknown'}, now ${o.backend})`);
  }

  const S = o.model.image_size;
  const C = o.model.channels;
  const T = o.model.text.max_tokens;
  const R = Math.max(1, o.model.rewards.length);
  const rewardIndex = o.model.rewards.map((r) => o.datasetRewards.indexOf(r));
  if (rewardIndex.some((i) => i < 0))
    throw new StageError(o.node, 0, `the data has no targets for ${o.model.rewards.filter((_, j) => rewardIndex[j]! < 0).join(', ')}`);
  const names = [...params.keys()];
  const byVarName = new Map([...params].map(([n, v]) => [v.name, n]));

  for (let step = start; step < o.steps; step++) {
    const t0 = performance.now();
    const batch = await loader.next();
    const B = batch.ids.length;
    const noise = rng.normals(B * S * S * C);
    const times = Float32Array.from({ length: B }, () =>
      sampleTime(
        o.timeSampling,
        () => rng.uniform(),
        () => rng.normal(),
      ),
    );
    // The loader gives every dataset reward; the model sees its own (none for the baseline).
    const targets = new Float32Array(B * R);
    const mask = new Float32Array(B * R);
    const all = o.datasetRewards.length;
    for (let i = 0; i < B; i++) {
      rewardIndex.forEach((k, j) => {
        targets[i * R + j] = batch.targets[i * all + k]!;
        mask[i * R + j] = batch.targetMask[i * all + k]!;
      });
    }
    const { value, grads } = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [B, S, S, C]);
      const n = tf.tensor4d(noise, [B, S, S, C]);
      const t = tf.tensor1d(times);
      const inputs = {
        t,
        text:
          o.model.text.kind === 'learned'
            ? tf.tensor2d(batch.tokens, [B, T], 'int32')
            : tf.tensor3d(batch.textStates, [B, T, o.model.text.embed_dim]),
        textMask: tf.tensor2d(batch.textMask, [B, T]),
        rewards: tf.tensor2d(targets, [B, R]),
        rewardMask: tf.tensor2d(mask, [B, R]),
      };
      return tf.variableGrads(() => {
        const { xt, target } = interpolate(tf, x, n, t);
        return flowLoss(tf, forward(tf, o.model, params, { ...inputs, x: xt }), target) as import('@tensorflow/tfjs').Scalar;
      });
    });
    const named: Record<string, Tensor> = {};
    for (const [varName, g] of Object.entries(grads)) named[byVarName.get(varName)!] = g;
    if (names.some((n) => !named[n])) throw new StageError(o.node, 0, `no gradient for ${names.filter((n) => !named[n]).join(', ')}`);
    const { gradNorm, lr } = adam.apply(named, step);
    const loss = (await value.data())[0]!;
    tf.dispose([value, ...Object.values(grads)]);
    if (!Number.isFinite(loss)) throw new StageError(o.node, 0, `loss is ${loss} at step ${step + 1}; lower the learning rate`);
    const row: Record<string, number | null> = {
      step: step + 1,
      epoch: loader.cursor.epoch,
      loss,
      lr,
      grad_norm: gradNorm,
      examples_per_s: B / ((performance.now() - t0) / 1000),
    };
    const done = step + 1;
    if (o.evaluate && (done % o.evalEvery === 0 || done === o.steps)) Object.assign(row, await o.evaluate(adam.ema, done));
    metrics.push(row);
    o.progress(done, o.steps, loss);
    if (done % o.checkpointEvery === 0 || done === o.steps) {
      const state: CheckpointState = {
        step: done,
        cursor: loader.cursor,
        rng: rng.state,
        config: o.model,
        metrics,
        data_source: o.dataSource,
        backend: o.backend,
      };
      await saveCheckpoint(o.dir, { model: params, ema: adam.ema, adam_m: adam.m, adam_v: adam.v }, state, o.keepCheckpoints);
    }
  }
  return { params, ema: adam.ema, metrics, resumedFrom };
}
