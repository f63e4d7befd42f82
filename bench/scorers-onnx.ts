// The ONNX scorer wrapper against a bare ONNX Runtime session on the same model and batch
// (target: at least 90% of bare), and the VLM captioner's and the VQAScore server scorer's
// request rates against a local chat-completions server with a fixed latency and concurrency
// limit (target: at least 95% of the server's capacity).

import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { loadScorer } from '../src/scorers/index.ts';
import { preprocessBatch } from '../src/scorers/onnx/preprocess.ts';
import { OpenAICaptioner } from '../src/captioners/openai.ts';
import { RequestCache } from '../src/vlm/client.ts';
import { defaultRetry } from '../src/util/fetch.ts';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeTokenizer } from '../test/onnx-fixtures.ts';
import { benchDir, report } from './util.ts';

const dir = benchDir('onnx');
const { onnx } = onnxProto;
const S = 224;
const P = 16;
const D = 768;
const H = 3072;
const LAYERS = 6;
const N = (S / P) ** 2;

// An image tower with half a ViT-B/16's matmul work (6 MLP blocks of 768 -> 3072 -> 768 on 196
// patch tokens, about 11 GFLOP per image; one shared pair of weights keeps the file small). The
// paper's reward towers are ViT-L/H, 5 to 20 times more work per image than this.
function weights(name: string, dims: number[]) {
  const n = dims.reduce((a, b) => a * b, 1);
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: 1,
    rawData: new Uint8Array(Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.02).buffer),
  });
}
const shape = (vals: number[]) =>
  onnx.TensorProto.create({
    name: `shape_${vals.join('_')}`,
    dims: [vals.length],
    dataType: 7,
    rawData: new Uint8Array(BigInt64Array.from(vals.map(BigInt)).buffer),
  });
const node = (op: string, i: string[], o: string[], attrs: Record<string, number | number[]> = {}) =>
  onnx.NodeProto.create({
    opType: op,
    input: i,
    output: o,
    attribute: Object.entries(attrs).map(([name, v]) => (Array.isArray(v) ? { name, ints: v, type: 7 } : { name, i: v, type: 2 })),
  });
const graph = {
  name: 'vit',
  node: [
    node('Reshape', ['pixel_values', 'shape_0_3_14_16_14_16'], ['p6']),
    node('Transpose', ['p6'], ['pt'], { perm: [0, 2, 4, 1, 3, 5] }),
    node('Reshape', ['pt', `shape_0_${N}_${3 * P * P}`], ['x0']),
    ...Array.from({ length: LAYERS }, (_, l) => [
      node('MatMul', [`x${l}`, 'W1'], [`h${l}`]),
      node('Relu', [`h${l}`], [`a${l}`]),
      node('MatMul', [`a${l}`, 'W2'], [`m${l}`]),
      node('Add', [`x${l}`, `m${l}`], [`x${l + 1}`]),
    ]).flat(),
    node('ReduceMean', [`x${LAYERS}`], ['image_embeds'], { axes: [1], keepdims: 0 }),
  ],
  initializer: [weights('W1', [3 * P * P, H]), weights('W2', [H, D]), shape([0, 3, 14, 16, 14, 16]), shape([0, N, 3 * P * P])],
  input: [
    onnx.ValueInfoProto.create({
      name: 'pixel_values',
      type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'B' }, { dimValue: 3 }, { dimValue: S }, { dimValue: S }] } } },
    }),
  ],
  output: [
    onnx.ValueInfoProto.create({
      name: 'image_embeds',
      type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'B' }, { dimValue: D }] } } },
    }),
  ],
};
await fs.mkdir(path.join(dir, 'model/onnx'), { recursive: true });
await fs.writeFile(
  path.join(dir, 'model/onnx/vision.onnx'),
  onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph })).finish(),
);
await writeTokenizer(path.join(dir, 'model'));
// A clip-mlp scorer over that tower with an identity-like head, so the wrapper does all its work.
const { encodeSafetensors } = await import('../src/util/safetensors.ts');
await fs.writeFile(
  path.join(dir, 'model/mlp.safetensors'),
  encodeSafetensors(new Map([['layers.0.weight', { shape: [1, D], data: new Float32Array(D).fill(0.01) }]])),
);
await fs.writeFile(
  path.join(dir, 'scorer.yaml'),
  `name: benchvit\nkind: clip-mlp\nmodel_dir: model\nfiles: {vision: onnx/vision.onnx, mlp: mlp.safetensors}\nimage: {size: ${S}}\nbatch_size: 16\n`,
);

const B = 16;
const IMAGES = 64;
// Inputs as the score stage hands them over: decoded 256x256 RGB images, resized and cropped by the wrapper.
const { encodePng } = await import('../src/util/image.ts');
const images = await Promise.all(
  Array.from({ length: IMAGES }, async (_, k) => {
    const data = Float32Array.from({ length: 256 * 256 * 3 }, (_, i) => (i * 7 + k * 13) % 256);
    return { image: { width: 256, height: 256, data }, caption: null, bytes: await encodePng(data, 256, 256) };
  }),
);
const scorer = await loadScorer(`onnx:${path.join(dir, 'scorer.yaml')}`);
await scorer.score(images.slice(0, B));
let t0 = performance.now();
await scorer.score(images);
const wrapped = IMAGES / ((performance.now() - t0) / 1000);

const session = await ort.InferenceSession.create(path.join(dir, 'model/onnx/vision.onnx'), {
  intraOpNumThreads: Number(process.env.MIRO_ORT_THREADS ?? 2),
});
const prepared = await Promise.all(
  Array.from({ length: IMAGES / B }, (_, i) =>
    preprocessBatch(
      images.slice(i * B, (i + 1) * B).map((x) => x.image),
      S,
      [0.48, 0.46, 0.41],
      [0.27, 0.26, 0.28],
      images.slice(i * B, (i + 1) * B).map((x) => x.bytes),
    ),
  ),
);
await session.run({ pixel_values: new ort.Tensor('float32', prepared[0]!, [B, 3, S, S]) });
t0 = performance.now();
for (const px of prepared) await session.run({ pixel_values: new ort.Tensor('float32', px, [B, 3, S, S]) });
const bare = IMAGES / ((performance.now() - t0) / 1000);
// The same session with the same preprocessing done first, batch after batch (no overlap).
t0 = performance.now();
for (let i = 0; i < IMAGES / B; i++) {
  const part = images.slice(i * B, (i + 1) * B);
  const px = await preprocessBatch(
    part.map((x) => x.image),
    S,
    [0.48, 0.46, 0.41],
    [0.27, 0.26, 0.28],
    part.map((x) => x.bytes),
  );
  await session.run({ pixel_values: new ort.Tensor('float32', px, [B, 3, S, S]) });
}
const sequential = IMAGES / ((performance.now() - t0) / 1000);
report('scorers_onnx.wrapper_images_per_s', wrapped, 'images/s');
report('scorers_onnx.bare_preprocess_then_run_images_per_s', sequential, 'images/s');
report('scorers_onnx.wrapper_over_bare_preprocess_then_run', wrapped / sequential, 'x');
report('scorers_onnx.bare_session_images_per_s', bare, 'images/s');
report('scorers_onnx.wrapper_over_bare', wrapped / bare, 'x');

// Captioner against a server with 40 ms latency and 8 requests at a time: capacity 200 requests/s.
// The captioner keeps twice the server's slots in flight, so the server's queue never runs dry.
const LATENCY = 40;
const SLOTS = 8;
// The server runs in its own process, as a real one would, so it does not share the client's thread.
async function startFakeServer(): Promise<{ server: ReturnType<typeof spawn>; url: string }> {
  const server = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(path.dirname(fileURLToPath(import.meta.url)), '../test/fake-vlm-main.ts'),
      JSON.stringify({ latencyMs: LATENCY, maxConcurrent: SLOTS }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve) => createInterface({ input: server.stdout! }).once('line', resolve));
  return { server, url };
}
const { server, url } = await startFakeServer();
const captioner = new OpenAICaptioner({
  server: url,
  model: 'bench',
  prompt: 'Describe. <CAPTION></CAPTION>',
  maxTokens: 64,
  temperature: 0,
  concurrency: 2 * SLOTS,
  retry: defaultRetry,
});
const png = new Uint8Array(await fs.readFile(path.join(dir, 'model/onnx/vision.onnx')).then(() => Buffer.from('89504e470d0a1a0a', 'hex')));
const REQ = 400;
const requests = Array.from({ length: REQ }, (_, i) => ({
  id: `r${i}`,
  image: Uint8Array.from([...png, i & 255, i >> 8]),
  mime: 'image/png',
  altText: null,
}));
const cache = await RequestCache.open(path.join(dir, 'cache.jsonl'));
t0 = performance.now();
const results = await captioner.captionAll(requests, cache);
const secs = (performance.now() - t0) / 1000;
await cache.close();
if (results.some((r) => r instanceof Error)) throw new Error('captioner bench: some requests failed');
// VQAScore through the same server: one token with logprobs a request, same slots in flight.
const vqaConfig = path.join(dir, 'vqascore-server.yaml');
await fs.writeFile(vqaConfig, `kind: vqa-server\nserver: {url: ${JSON.stringify(url)}, model: bench, concurrency: ${2 * SLOTS}}\n`);
const vqa = await loadScorer(`vlm:${vqaConfig}`);
t0 = performance.now();
const vqaScores = await vqa.score(
  requests.map((r) => ({ image: { width: 1, height: 1, data: new Float32Array(3) }, caption: 'a red circle', bytes: r.image })),
);
const vqaSecs = (performance.now() - t0) / 1000;
server.kill('SIGTERM');
if (vqaScores.some((v) => typeof v !== 'number')) throw new Error('vqa-server bench: some requests failed');
// The server's capacity as measured: a bare client keeping the server's queue full with the same
// requests, pre-serialised (nominal capacity is SLOTS / LATENCY; timers and parsing cost a little).
const { server: server2, url: url2 } = await startFakeServer();
const bodies = requests.map((r) =>
  JSON.stringify({
    model: 'bench',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'x' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${Buffer.from(r.image).toString('base64')}` } },
        ],
      },
    ],
  }),
);
let next = 0;
t0 = performance.now();
await Promise.all(
  Array.from({ length: 2 * SLOTS }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      await (await fetch(`${url2}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text();
    }
  }),
);
const capacity = REQ / ((performance.now() - t0) / 1000);
server2.kill('SIGTERM');
report('captioner.requests_per_s', REQ / secs, 'requests/s');
report('captioner.server_nominal_capacity', (SLOTS * 1000) / LATENCY, 'requests/s');
report('captioner.server_measured_capacity', capacity, 'requests/s');
report('captioner.share_of_measured_capacity', REQ / secs / capacity, 'x');
report('vqa_server.requests_per_s', REQ / vqaSecs, 'requests/s');
report('vqa_server.share_of_measured_capacity', REQ / vqaSecs / capacity, 'x');
