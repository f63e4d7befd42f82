// Training throughput of the MIRO network: steps/s and examples/s per preset (forward, backward and
// the AdamW + EMA update on a fixed batch), on every TensorFlow.js backend that loads here. Each
// backend runs in its own process (TensorFlow.js holds one backend per process; MIRO_TF_BACKEND picks one). CPU backends time
// the demo presets and paper-tiny (the latent path); GPU backends also time the paper preset.
// For comparison, the torch engine (python/miro_torch/bench.py) times the same network and step on
// the same CPU and batch, one thread (Debian's python3-torch), and the ratio is printed.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKEND_ORDER, loadTf } from '../src/model/backend.ts';
import { modelConfig } from '../src/model/config.ts';
import { initParams, forward } from '../src/model/network.ts';
import { interpolate, flowLoss } from '../src/model/flow.ts';
import { AdamW } from '../src/train/optim.ts';
import { report } from './util.ts';

const REWARDS = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
const B = 32;
const here = fileURLToPath(import.meta.url);
const GPU_BACKENDS = new Set(['tensorflow-gpu', 'webgpu']);

/** Times one backend (this process); prints its BENCH lines and returns steps/s per preset. */
async function measure(name: string): Promise<void> {
  const { tf, backend } = await loadTf(name, (m) => console.log(`# ${m}`));
  const presets = ['tiny-patchwise', 'tiny', 'small', 'paper-tiny', ...(GPU_BACKENDS.has(backend) ? ['paper'] : [])];
  for (const preset of presets) {
    const cfg = modelConfig(preset, 'miro', REWARDS);
    const params = initParams(tf, cfg, 1);
    const adam = new AdamW(
      tf,
      {
        lr: 1e-3,
        min_lr: 1e-4,
        warmup_steps: 10,
        total_steps: 1000,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weight_decay: 0.01,
        clip_norm: 1,
        ema_decay: 0.99,
      },
      params,
    );
    const T = cfg.text.max_tokens;
    const S = cfg.image_size;
    const x = tf.randomNormal([B, S, S, cfg.channels]);
    const n = tf.randomNormal([B, S, S, cfg.channels]);
    const t = tf.randomUniform([B]);
    const inputs = {
      t,
      text: cfg.text.kind === 'learned' ? tf.zeros([B, T], 'int32') : tf.randomNormal([B, T, cfg.text.embed_dim]),
      textMask: tf.ones([B, T]),
      rewards: tf.randomUniform([B, 7]),
      rewardMask: tf.ones([B, 7]),
    };
    const byVar = new Map([...params].map(([k, v]) => [v.name, k]));
    const step = async (i: number) => {
      const { value, grads } = tf.variableGrads(() => {
        const { xt, target } = interpolate(tf, x, n, t);
        return flowLoss(tf, forward(tf, cfg, params, { ...inputs, x: xt }), target) as import('@tensorflow/tfjs').Scalar;
      });
      adam.apply(Object.fromEntries(Object.entries(grads).map(([k, g]) => [byVar.get(k)!, g])), i);
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    };
    for (let i = 0; i < 3; i++) await step(i);
    const N = preset === 'small' || preset === 'paper' ? 6 : 20;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await step(i + 3);
    const secs = (performance.now() - t0) / 1000;
    report(`train.${preset}_steps_per_s_${backend}`, N / secs, 'steps/s');
    report(`train.${preset}_examples_per_s_${backend}`, (N * B) / secs, 'examples/s');
    tf.dispose([...params.values(), ...adam.m.values(), ...adam.v.values(), ...adam.ema.values(), x, n, t, ...Object.values(inputs)]);
  }
}

const UNAVAILABLE = 3;
if (process.env.MIRO_BENCH_BACKEND) {
  await measure(process.env.MIRO_BENCH_BACKEND).catch((err: Error) => {
    if (!/no TensorFlow.js backend could be loaded/.test(err.message)) throw err;
    console.log(err.message.replace(/.*could be loaded \((.*)\)$/, '$1'));
    process.exit(UNAVAILABLE);
  });
} else {
  // One child per backend; a backend that does not load here says why and is skipped. Plain
  // JavaScript ('cpu', the last resort) is 5-20x slower than wasm: timed only when asked for by name.
  const wanted = process.env.MIRO_TF_BACKEND ? [process.env.MIRO_TF_BACKEND] : BACKEND_ORDER.filter((b) => b !== 'cpu');
  const figures = new Map<string, number>();
  for (const name of wanted) {
    const run = spawnSync(process.execPath, ['--import', 'tsx', here], {
      env: { ...process.env, MIRO_BENCH_BACKEND: name },
      encoding: 'utf8',
    });
    if (run.status === UNAVAILABLE) {
      console.log(`# backend not available here: ${run.stdout.trim()}`);
      continue;
    }
    if (run.status !== 0) throw new Error(`bench on backend ${name} failed: ${run.stderr}`);
    process.stdout.write(run.stdout);
    for (const m of run.stdout.matchAll(/^BENCH train\.(\S+)_steps_per_s_(\S+) (\S+)/gm)) figures.set(`${m[1]}@${m[2]}`, Number(m[3]));
  }
  const fastest = [...figures.keys()].find((k) => k.startsWith('tiny@'))?.split('@')[1];
  if (fastest) {
    const get = (p: string) => figures.get(`${p}@${fastest}`)!;
    report(`train.tiny_step_time_over_tiny_patchwise`, get('tiny-patchwise') / get('tiny'), 'x');
    const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
    if (!python) console.log('# PyTorch reference skipped: no python3 with torch (apt-get install python3-torch)');
    else
      for (const preset of ['tiny-patchwise', 'tiny', 'small']) {
        // The torch engine itself (python/miro_torch), same network, batch and step, one thread.
        const ref = spawnSync(
          python,
          ['-m', 'miro_torch.bench', '--preset', preset, '--batch', String(B), '--seconds', preset === 'small' ? '10' : '5'],
          {
            cwd: path.join(path.dirname(here), '..', 'python'),
            encoding: 'utf8',
            env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
          },
        );
        if (ref.status !== 0) throw new Error(`miro_torch.bench --preset ${preset} failed: ${ref.stderr}`);
        process.stdout.write(ref.stdout);
        const m = new RegExp(`BENCH miro_torch\\.${preset}_steps_per_s (\\S+)`).exec(ref.stdout);
        if (m) report(`train.${preset}_ratio_tfjs_${fastest}_over_torch`, figures.get(`${preset}@${fastest}`)! / Number(m[1]), 'x');
      }
  }
}
