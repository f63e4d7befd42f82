// `miro models fetch` against a real local HTTP server that serves files the way the Hugging Face
// Hub's resolve endpoint does (HF_ENDPOINT points at it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { runCli, tmpDir } from './helpers.ts';

test('fetches files by repo and revision, retries a 503, verifies pinned hashes, and skips present files', async () => {
  const files: Record<string, Buffer> = {
    'onnx/vision_model.onnx': Buffer.from('vision bytes'),
    'aesthetic_mlp.safetensors': Buffer.from('mlp bytes'),
  };
  const seen: string[] = [];
  let failedOnce = false;
  const server = http.createServer((req, res) => {
    seen.push(req.url!);
    const m = /^\/org\/aesthetic\/resolve\/abc123\/(.+)$/.exec(req.url!);
    const body = m ? files[decodeURIComponent(m[1]!)] : undefined;
    if (!body) return void res.writeHead(404).end('not found');
    if (!failedOnce) {
      failedOnce = true;
      return void res.writeHead(503, { 'retry-after': '0' }).end('busy');
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = tmpDir();
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const config = path.join(dir, 'aesthetic.yaml');
  await fs.writeFile(
    config,
    `kind: clip-mlp\nhub: {repo: org/aesthetic, revision: abc123}\nfiles:\n  vision: {path: onnx/vision_model.onnx, sha256: ${sha(files['onnx/vision_model.onnx']!)}}\n  mlp: aesthetic_mlp.safetensors\n`,
  );
  const env = { HF_ENDPOINT: endpoint, MIRO_MODELS: path.join(dir, 'cache') };
  try {
    const first = await runCli(['models', 'fetch', config], { env });
    assert.equal(first.code, 0, first.stderr);
    const target = path.join(dir, 'cache/org/aesthetic/abc123/onnx/vision_model.onnx');
    assert.equal(readFileSync(target, 'utf8'), 'vision bytes');
    assert.match(first.stdout, /downloaded .*vision_model\.onnx/);
    assert.match(first.stderr, /HTTP 503 busy; retrying/);
    assert.match(first.stderr, /warning: .*aesthetic\.yaml: files\.mlp pins no sha256/);
    const pinsRequired = await runCli(['models', 'fetch', '--require-pins', config], { env });
    assert.equal(pinsRequired.code, 1);
    assert.match(pinsRequired.stderr, /files\.mlp pin no sha256; --require-pins refuses unpinned downloads/);
    const second = await runCli(['models', 'fetch', config], { env });
    assert.match(second.stdout, /present .*vision_model\.onnx/);
    assert.equal(seen.length, 3, 'present files are not downloaded again (and --require-pins asked for nothing)');

    await fs.writeFile(
      config,
      `kind: clip-mlp\nhub: {repo: org/aesthetic, revision: abc123}\nmodel_dir: elsewhere\nfiles:\n  vision: {path: onnx/vision_model.onnx, sha256: '${'0'.repeat(64)}'}\n  mlp: aesthetic_mlp.safetensors\n`,
    );
    const bad = await runCli(['models', 'fetch', config], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /files\.vision: .*vision_model\.onnx has sha256 [0-9a-f]{64}, but .*aesthetic\.yaml pins 0000/);
    assert.ok(!existsSync(path.join(dir, 'elsewhere/onnx/vision_model.onnx')), 'a file with the wrong hash is not kept');

    // A repo or revision that would climb out of the model cache is refused before anything is fetched.
    const asked = seen.length;
    for (const hub of [
      '{repo: ../../outside, revision: abc123}',
      '{repo: org/aesthetic, revision: ../../outside}',
      '{repo: org/../x, revision: main}',
    ]) {
      await fs.writeFile(
        config,
        `kind: clip-mlp\nhub: ${hub}\nfiles:\n  vision: onnx/vision_model.onnx\n  mlp: aesthetic_mlp.safetensors\n`,
      );
      const escape = await runCli(['models', 'fetch', config], { env });
      assert.equal(escape.code, 1, hub);
      assert.match(escape.stderr, /hub\.(repo|revision): ".*" is not a Hub name/, hub);
    }
    assert.equal(seen.length, asked, 'nothing was requested for them');
  } finally {
    server.close();
  }
});
