// A pipeline on a real Slurm cluster (single node, started by the test): an array of 4 map tasks
// (deploy/slurm/map.sbatch through submit.sh) and the dependent global job. One task is cancelled
// mid-shard and requeued; every committed Parquet file and the trained weights must be
// byte-identical to a single-process run. A torch train node (launch: external) trains on 2 gloo
// ranks through deploy/slurm/train-torch.sbatch, is requeued mid-run, resumes from its checkpoint
// and ends with the weights of an uninterrupted local run. Skips, saying why, only where the
// daemons cannot start (or, for the second, where there is no PyTorch).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, runCli, snapshot, tmpDir, writePipeline, TORCH_PYTHON, NO_TORCH } from './helpers.ts';
import { slurmUnavailable, startSlurm } from './slurm-cluster.ts';

const why = slurmUnavailable();

const YAML = `name: sl
settings: {shards: 4, seed: 11}
nodes:
  synth: {uses: synth, with: {count: 320}}
  caption: {uses: caption, needs: [synth], with: {captioner: scene, scene: synth.scene}}
  short_caption: {uses: short_caption, needs: [caption], with: {summarizer: summary, caption: caption.caption}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  score_sharpness: {uses: score, needs: [synth], with: {scorer: sharpness, image: synth.image}}
  score_objects: {uses: score, needs: [synth, short_caption], with: {scorer: objects, image: synth.image, caption: short_caption.caption}}
  bins:
    uses: bins
    needs: [score_colourfulness, score_sharpness, score_objects]
    with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score, sharpness: score_sharpness.score, objects: score_objects.score}}
  levels: {uses: derive, needs: [bins], with: {columns: {total: {sql: "colourfulness_bin + sharpness_bin"}}}}
  train:
    uses: train
    needs: [synth, caption, bins]
    with:
      image: synth.image
      caption_real: synth.caption
      caption_synthetic: caption.caption
      targets: {colourfulness: bins.colourfulness_target, sharpness: bins.sharpness_target, objects: bins.objects_target}
      steps: 4
      batch_size: 8
      eval_samples: 0
`;

test(
  'Slurm: 4 array tasks and a dependent global job, one task cancelled mid-shard and requeued, give the single-process bytes',
  { skip: why ?? false, timeout: 600_000 },
  async () => {
    const dir = tmpDir('miro-slurm-');
    const file = await writePipeline(dir, 'sl', YAML);
    const single = path.join(dir, 'single');
    const one = await runCli(['run', file], { env: { MIRO_DATA_ROOT: single } });
    assert.equal(one.code, 0, one.stderr);

    const cluster = await startSlurm(path.join(dir, 'cluster'));
    try {
      const root = path.join(dir, 'slurm');
      const jobs = path.join(dir, 'jobs');
      await fs.mkdir(jobs, { recursive: true });
      const env = {
        MIRO_DATA_ROOT: root,
        SBATCH_MAP_ARGS: '--cpus-per-task=1',
        SBATCH_GLOBAL_ARGS: '--cpus-per-task=1',
        MIRO_RUN_ARGS: '--jobs 1',
      };
      const [map, global] = cluster.run(path.join(ROOT, 'deploy/slurm/submit.sh'), [file, '4'], { cwd: jobs, env }).trim().split(' ');
      assert.match(`${map} ${global}`, /^\d+ \d+$/);

      // Cancel task 1 while it holds a shard lock (mid-shard), then requeue it at once.
      const deadline = Date.now() + 120_000;
      let caught: string | undefined;
      while (!caught && Date.now() < deadline) {
        caught = existsSync(path.join(root, 'sl'))
          ? readdirSync(path.join(root, 'sl')).find((n) => existsSync(path.join(root, 'sl', n, '_lock', 'shard-00001')))
          : undefined;
        if (!caught) await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(caught, 'task 1 was never seen in the middle of a shard');
      cluster.run('scancel', [`${map}_1`]);
      // A requeue while the cancelled task is still completing can be dropped: ask until it is queued again.
      const requeueBy = Date.now() + 30_000;
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          cluster.run('scontrol', ['requeue', `${map}_1`]);
        } catch {
          // not requeueable yet (still completing)
        }
        if (cluster.run('squeue', ['-h', '-j', `${map}_1`, '-o', '%T']).trim() || Date.now() > requeueBy) break;
      }
      cluster.run('scontrol', ['update', `jobid=${map}_1`, 'starttime=now']); // a requeued job otherwise waits about two minutes

      // Wait for the queue to drain, then read how the jobs ended.
      for (;;) {
        const queue = cluster.run('squeue', ['-h', '-o', '%i %T']).trim();
        if (!queue) break;
        if (Date.now() > deadline + 300_000) assert.fail(`jobs still queued: ${queue}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const state = (id: string) => /JobState=(\S+)/.exec(cluster.run('scontrol', ['show', 'job', id]))?.[1];
      assert.equal(
        state(global!),
        'COMPLETED',
        await fs.readFile(path.join(jobs, `miro-global-${global}.out`), 'utf8').catch(() => 'no log'),
      );
      for (const task of [0, 1, 2, 3]) assert.equal(state(`${map}_${task}`), 'COMPLETED', `task ${task}`);
      const requeued = await fs.readFile(path.join(jobs, `miro-map-${map}_1.out`), 'utf8');
      assert.match(requeued, /restart 1/, 'the log of task 1 is its requeued run');
      assert.match(requeued, /rank 1 of 4 \(SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT\)/);

      // Every committed Parquet file, and the trained weights, equal the single-process run's bytes;
      // the train node's metric rows hold wall-clock rates, so its weights stand for it.
      const rows = (p: string) => p.endsWith('.parquet') && !p.startsWith('sl/train/');
      const [a, b] = [await snapshot(single, rows), await snapshot(root, rows)];
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      assert.ok(a.size >= 8 * 4, `${a.size} Parquet files`); // eight nodes of 4 shards, and the bin_edges table
      for (const [k, v] of a) assert.ok(v.equals(b.get(k)!), `${k} differs from the single-process run`);
      const ema = (r: string) => fs.readFile(path.join(r, 'sl/train/_model/ema.safetensors'));
      assert.ok((await ema(single)).equals(await ema(root)), 'trained weights differ');
      const status = await runCli(['status', file], { env: { MIRO_DATA_ROOT: root } });
      assert.equal(status.code, 0, status.stdout);
    } finally {
      await cluster.stop();
    }
  },
);

const TORCH_YAML = `name: st
settings: {shards: 4, seed: 13}
nodes:
  synth: {uses: synth, with: {count: 120}}
  caption: {uses: caption, needs: [synth], with: {captioner: scene, scene: synth.scene}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  bins: {uses: bins, needs: [score_colourfulness], with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score}}}
  train:
    uses: train
    needs: [synth, caption, bins]
    with:
      engine: torch
      python: ${TORCH_PYTHON}
      nproc_per_node: 2
      launch: external
      image: synth.image
      caption_real: synth.caption
      caption_synthetic: caption.caption
      targets: {colourfulness: bins.colourfulness_target}
      steps: 40
      batch_size: 8
      checkpoint_every: 4
      eval_samples: 0
`;

test(
  'Slurm: a torch train node on 2 gloo ranks through train-torch.sbatch, requeued mid-run, ends with the uninterrupted weights',
  { skip: why ?? (TORCH_PYTHON ? false : NO_TORCH), timeout: 600_000 },
  async () => {
    const dir = tmpDir('miro-slurm-torch-');
    const file = await writePipeline(dir, 'st', TORCH_YAML);
    const local = path.join(dir, 'local');
    const ref = await runCli(
      [
        'run',
        file,
        '--set',
        'nodes.train.with.launch=auto',
        '--only',
        'synth',
        '--only',
        'caption',
        '--only',
        'score_colourfulness',
        '--only',
        'bins',
        '--only',
        'train',
      ],
      {
        env: { MIRO_DATA_ROOT: local },
      },
    );
    assert.equal(ref.code, 0, ref.stderr);

    const root = path.join(dir, 'slurm');
    const first = await runCli(['run', file], { env: { MIRO_DATA_ROOT: root } });
    assert.notEqual(first.code, 0);
    const plan = path.join(root, 'st/train/_torch/plan.json');
    assert.ok(first.stderr.includes(`sbatch deploy/slurm/train-torch.sbatch ${plan}`), first.stderr);

    const cluster = await startSlurm(path.join(dir, 'cluster'));
    try {
      const jobs = path.join(dir, 'jobs');
      await fs.mkdir(jobs, { recursive: true });
      const env = {
        GPUS_PER_NODE: '2',
        MIRO_PYTHON: TORCH_PYTHON!,
        MIRO_HOME: ROOT,
        OMP_NUM_THREADS: '1',
        OPENBLAS_NUM_THREADS: '1',
        MIRO_NODE: process.execPath,
      };
      const job = cluster
        .run('sbatch', ['--parsable', '--export=ALL', '--cpus-per-task=2', path.join(ROOT, 'deploy/slurm/train-torch.sbatch'), plan], {
          cwd: jobs,
          env,
        })
        .trim();
      const ckpt = path.join(root, 'st/train/_checkpoints/step-0000008');
      const deadline = Date.now() + 180_000;
      while (!existsSync(ckpt) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(existsSync(ckpt), 'no checkpoint at step 8');
      cluster.run('scontrol', ['requeue', job]);
      for (let i = 0; i < 60 && !/PENDING|RUNNING/.test(cluster.run('squeue', ['-h', '-j', job, '-o', '%T'])); i++)
        await new Promise((r) => setTimeout(r, 500));
      try {
        cluster.run('scontrol', ['update', `jobid=${job}`, 'starttime=now']);
      } catch {
        // already running again
      }
      for (;;) {
        if (!cluster.run('squeue', ['-h', '-j', job, '-o', '%T']).trim()) break;
        if (Date.now() > deadline + 240_000) assert.fail('the training job is still queued');
        await new Promise((r) => setTimeout(r, 500));
      }
      const log = await fs.readFile(path.join(jobs, `miro-train-${job}.out`), 'utf8').catch(() => 'no log');
      assert.match(cluster.run('scontrol', ['show', 'job', job]), /JobState=COMPLETED/, log);
      assert.match(log, /resumed from .*step-00000\d\d/, log);
      assert.match(log, /2 rank\(s\) on cpu/);

      const done = await runCli(['run', file], { env: { MIRO_DATA_ROOT: root } });
      assert.equal(done.code, 0, done.stderr);
      assert.doesNotMatch(done.stderr, /launching/);
      const ema = (r: string) => fs.readFile(path.join(r, 'st/train/_model/ema.safetensors'));
      assert.ok((await ema(local)).equals(await ema(root)), 'the requeued Slurm run ended with other weights than the uninterrupted one');
    } finally {
      await cluster.stop();
    }
  },
);
