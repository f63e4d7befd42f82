// `miro status`: a node being run shows as running with its lock's owner; a node whose run failed
// shows as failed with the error (exit 1) until a run gets it through; --json gives the same facts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCli, tmpDir, writePipeline } from './helpers.ts';

interface NodeStatus {
  node: string;
  state: string;
  why: string;
  shards_committed: number;
  shards: number;
}

const statusJson = async (file: string, env: Record<string, string>) => {
  const r = await runCli(['status', file, '--json'], { env });
  return { code: r.code, nodes: JSON.parse(r.stdout) as NodeStatus[] };
};

test('status: pending, running with the owner, up to date; a failed node is failed with its error and exit 1 until fixed', async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: `${dir}/data` };
  const yaml = (expr: string) => `name: st
settings: {shards: 2, seed: 1}
nodes:
  synth: {uses: synth, with: {count: 64}}
  caption: {uses: caption, needs: [synth], with: {captioner: scene, scene: synth.scene}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  bins: {uses: bins, needs: [score_colourfulness], with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score}}}
  train:
    uses: train
    needs: [synth, caption, bins]
    with: {image: synth.image, caption_real: synth.caption, targets: {colourfulness: bins.colourfulness_target}, steps: 200, batch_size: 8, checkpoint_every: 200, eval_samples: 0}
  check: {uses: derive, needs: [bins], with: {columns: {v: {sql: "${expr}"}}}}
`;
  const file = await writePipeline(dir, 'st', yaml("if(colourfulness_bin >= 0, error('boom: a bad row'), 1)"));
  const before = await statusJson(file, env);
  assert.equal(before.code, 0);
  assert.ok(
    before.nodes.every((n) => n.state === 'pending'),
    JSON.stringify(before.nodes),
  );

  const { child, done } = startCli(
    ['run', file, '--only', 'synth', '--only', 'caption', '--only', 'score_colourfulness', '--only', 'bins', '--only', 'train'],
    { env },
  );
  let seen: NodeStatus | undefined;
  while (!seen) {
    if (child.exitCode !== null) assert.fail(`the run ended before status saw train running: ${(await done).stderr}`);
    seen = (await statusJson(file, env)).nodes.find((n) => n.node === 'train' && n.state === 'running');
  }
  assert.match(seen.why, new RegExp(`node train \\(rank 0 of 1\\): process \\d+ on .* since `));
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\[train\] .*steps · .*steps\/s.* loss \d/, 'training progress counts steps and shows the loss');

  const failed = await runCli(['run', file, '--only', 'check'], { env });
  assert.notEqual(failed.code, 0);
  const after = await statusJson(file, env);
  assert.equal(after.code, 1, 'status exits 1 when a node failed');
  const check = after.nodes.find((n) => n.node === 'check')!;
  assert.equal(check.state, 'failed');
  assert.match(check.why, /boom: a bad row/);
  assert.equal(after.nodes.find((n) => n.node === 'train')!.state, 'up to date');
  const table = await runCli(['status', file], { env });
  assert.equal(table.code, 1);
  assert.match(table.stdout, /check .*failed .*boom/);

  // Fixed, the node runs through and the failure is gone, even when the run that gets it through
  // has another world than the one that failed (the failure file is rank 0 of 1's).
  await writePipeline(dir, 'st', yaml('colourfulness_bin + 1'));
  assert.equal((await runCli(['run', file, '--only', 'check', '--rank', '0', '--world', '2'], { env })).code, 0);
  assert.equal((await runCli(['run', file, '--only', 'check', '--rank', '1', '--world', '2'], { env })).code, 0);
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const fixed = await statusJson(file, env);
  assert.equal(fixed.code, 0);
  assert.ok(
    fixed.nodes.every((n) => n.state === 'up to date'),
    JSON.stringify(fixed.nodes),
  );
});

test('status: a failure of one world is superseded once runs of another world commit the node', async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: `${dir}/data` };
  const file = await writePipeline(dir, 'sw', 'name: sw\nsettings: {shards: 2}\nnodes:\n  numbers: {uses: rows, with: {count: 8}}\n');
  // A live lock held by this process makes the world-1 run fail, with the node's own fingerprint.
  const lock = `${dir}/data/sw/numbers/_lock/rank-0-of-1`;
  await fs.mkdir(path.dirname(lock), { recursive: true });
  await fs.writeFile(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString(), what: 'test' }));
  assert.equal((await runCli(['run', file], { env })).code, 1);
  await fs.rm(lock);
  assert.equal((await statusJson(file, env)).nodes[0]!.state, 'failed');
  for (const rank of ['0', '1']) assert.equal((await runCli(['run', file, '--rank', rank, '--world', '2'], { env })).code, 0);
  const after = await statusJson(file, env);
  assert.equal(after.code, 0);
  assert.equal(after.nodes[0]!.state, 'up to date', JSON.stringify(after.nodes));
});
