// The tool writes and deletes only what it owns: pipeline names cannot climb out of the data
// root, the data root cannot be / or the project, a re-run clears only the node's own outputs,
// and a reward-model config cannot name files outside its model folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { parsePipeline } from '../src/dag/pipeline.ts';
import { loadScorerConfig } from '../src/scorers/onnx/config.ts';
import { ConfigError } from '../src/errors.ts';
import { ROOT, runCli, tmpDir, writePipeline } from './helpers.ts';

const NODES = 'nodes:\n  a: {uses: rows, with: {count: 4}}\n';

function configError(yaml: string, dataRoot: string): ConfigError {
  try {
    parsePipeline(yaml, 'pipelines/x.yaml', { dataRoot });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err;
  }
  assert.fail('pipeline was accepted');
}

test('a pipeline name with dots or separators is refused, naming the key', () => {
  for (const name of ['..', '.', '../up', 'a/b', '.hidden', '-flag']) {
    const e = configError(`name: ${JSON.stringify(name)}\n${NODES}`, '/tmp/miro-data');
    assert.equal(e.keyPath, 'name', name);
    assert.match(e.message, /must be a plain name/);
  }
  assert.equal(parsePipeline(`name: demo_2-b\n${NODES}`, 'x.yaml', { dataRoot: '/tmp/miro-data' }).settings.name, 'demo_2-b');
});

test('the data root may not be a file-system root, the project or a folder above it', () => {
  for (const root of ['/', ROOT, path.dirname(ROOT)]) {
    const e = configError(`name: p\n${NODES}`, root);
    assert.equal(e.keyPath, 'settings.data_root', root);
  }
  assert.equal(
    parsePipeline(`name: p\n${NODES}`, 'x.yaml', { dataRoot: path.join(ROOT, 'data') }).settings.dataRoot,
    path.join(ROOT, 'data'),
  );
});

test('re-running a node deletes its own outputs and leaves files it did not write', async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const yaml = (count: number) => `name: keep\nsettings: {shards: 2}\nnodes:\n  a: {uses: rows, with: {count: ${count}}}\n`;
  const file = await writePipeline(dir, 'keep', yaml(10));
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const node = path.join(dir, 'data/keep/a');
  await fs.writeFile(path.join(node, 'notes.txt'), 'mine');
  await fs.mkdir(path.join(node, 'mine'));
  await fs.writeFile(path.join(node, 'part-00007.parquet.tmp'), 'a half-written shard');

  await fs.writeFile(file, yaml(12)); // a new fingerprint: the node is cleared and re-run
  const res = await runCli(['run', file], { env });
  assert.equal(res.code, 0, res.stderr);
  assert.equal(await fs.readFile(path.join(node, 'notes.txt'), 'utf8'), 'mine');
  assert.ok(existsSync(path.join(node, 'mine')));
  assert.ok(!existsSync(path.join(node, 'part-00007.parquet.tmp')), 'leftover .tmp shard removed');
  const count = await runCli(['sql', file, 'SELECT count(*) AS n FROM a', '--format', 'csv'], { env });
  assert.equal(count.stdout.trim(), 'n\n12');
});

test('a reward-model config may not name a file outside its model folder', async () => {
  const dir = tmpDir();
  for (const bad of ['../../x.onnx', '/etc/passwd', 'onnx/../../y.onnx']) {
    const file = path.join(dir, 'm.yaml');
    await fs.writeFile(
      file,
      `kind: clip\nmodel_dir: .\nfiles:\n  vision: ${JSON.stringify(bad)}\n  text: onnx/text.onnx\n  tokenizer: tokenizer.json\n`,
    );
    assert.throws(() => loadScorerConfig(file), /files\.vision\.path.*must be a relative path inside the model folder/, bad);
  }
});
