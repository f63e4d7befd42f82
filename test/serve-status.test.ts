// The explorer's Run page polls /api/status every 3 s: it reads markers and manifests only, so an
// open tab never re-identifies the inputs (ingest's identity stats every image of its folder).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { binnedPipelineYaml, runCli, tmpDir, writeImageFolder, writePipeline } from './helpers.ts';
import { loadPipeline } from '../src/dag/pipeline.ts';
import { startServer } from '../src/serve/server.ts';

test('polling /api/status stats no image file, and still shows what is committed', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 12);
  const file = await writePipeline(dir, 'poll', binnedPipelineYaml('poll', images));
  const root = path.join(dir, 'data');
  assert.equal((await runCli(['run', file], { env: { MIRO_DATA_ROOT: root } })).code, 0);
  const server = await startServer(loadPipeline(file, { dataRoot: root }), { port: 0 });
  const stat = fs.promises.stat;
  let imageStats = 0;
  fs.promises.stat = ((p: fs.PathLike, ...rest: unknown[]) => {
    if (String(p).startsWith(images)) imageStats++;
    return (stat as (...a: unknown[]) => unknown)(p, ...rest);
  }) as typeof fs.promises.stat;
  try {
    for (let i = 0; i < 5; i++) {
      const nodes = (await (await fetch(`${server.url}/api/status`)).json()) as { node: string; state: string; shards_committed: number }[];
      assert.deepEqual(
        nodes.map((n) => [n.node, n.state, n.shards_committed]),
        ['ingest', 'score_sharpness', 'score_contrast', 'bins'].map((n) => [n, 'up to date', 2]),
      );
    }
    assert.equal(imageStats, 0, 'the status route stat-ed image files');
  } finally {
    fs.promises.stat = stat;
    await server.close();
  }
});
