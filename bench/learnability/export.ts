// Writes the study world (bench/learnability/world.yaml, after `miro run`) as NumPy arrays that
// the PyTorch study reads without pyarrow: images [N, 32, 32, 3] uint8, the real (alt text) and
// synthetic (long) captions' token ids [N, 2, T] int32 in the demo vocabulary, reward targets
// [N, 7] float32 (NaN where missing), and the held-out flag of the train stage's split.
//   node --import tsx bench/learnability/export.ts [OUT_DIR] [MAX_TOKENS]

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadPipeline } from '../../src/dag/pipeline.js';
import { openViews } from '../../src/dag/views.js';
import { queryBatches } from '../../src/store/duck.js';
import { decodeImage } from '../../src/util/image.js';
import { DEMO_VOCAB, tokenize } from '../../src/model/tokenizer.js';
import { heldOutSql } from '../../src/train/loader.js';
import { genevalPrompts } from '../../src/synth/geneval.js';

const REWARDS = ['colourfulness', 'sharpness', 'contrast', 'cleanliness', 'objects', 'counting', 'position'];
const here = path.dirname(new URL(import.meta.url).pathname);
const out = process.argv[2] ?? path.join(here, 'out', 'world');
const T = Number(process.argv[3] ?? 112);

function npy(data: ArrayBufferView, dtype: string, shape: number[]): Buffer {
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

const pipeline = await loadPipeline(path.join(here, 'world.yaml'));
const { conn } = await openViews(pipeline);
const sql = `SELECT s.id, s.image, s.caption AS caption_real, c.caption AS caption_synthetic, ${heldOutSql(42, 0.05)} AS held_out,
  ${REWARDS.map((r) => `b.${r}_target`).join(', ')}
  FROM synth s JOIN caption c USING (id) JOIN bins b USING (id) ORDER BY s.id`;
const images: Uint8Array[] = [];
const tokens: Int32Array[] = [];
const targets: number[] = [];
const heldOut: number[] = [];
let longest = 0;
for await (const batch of queryBatches(conn, sql)) {
  for (let i = 0; i < batch.rows; i++) {
    const r = Object.fromEntries(Object.entries(batch.columns).map(([k, v]) => [k, v[i]]));
    const img = await decodeImage(r.image as Uint8Array);
    images.push(Uint8Array.from(img.data));
    for (const c of [r.caption_real as string, r.caption_synthetic as string]) {
      longest = Math.max(longest, (c.match(/[a-z]+|\d+/gi) ?? []).length);
      tokens.push(tokenize(c, DEMO_VOCAB, T));
    }
    for (const name of REWARDS) targets.push((r[`${name}_target`] as number | null) ?? NaN);
    heldOut.push(r.held_out ? 1 : 0);
  }
}
const N = heldOut.length;
mkdirSync(out, { recursive: true });
const cat = <A extends Uint8Array | Int32Array>(xs: A[], make: (n: number) => A): A => {
  const all = make(xs.reduce((a, x) => a + x.length, 0));
  let o = 0;
  for (const x of xs) all.set(x, (o += x.length) - x.length);
  return all;
};
writeFileSync(
  path.join(out, 'images.npy'),
  npy(
    cat(images, (n) => new Uint8Array(n)),
    '|u1',
    [N, 32, 32, 3],
  ),
);
writeFileSync(
  path.join(out, 'tokens.npy'),
  npy(
    cat(tokens, (n) => new Int32Array(n)),
    '<i4',
    [N, 2, T],
  ),
);
writeFileSync(path.join(out, 'targets.npy'), npy(Float32Array.from(targets), '<f4', [N, REWARDS.length]));
writeFileSync(path.join(out, 'held_out.npy'), npy(Uint8Array.from(heldOut), '|u1', [N]));
// Every mini-GenEval prompt, tokenised the same way, for sampling during the study.
const prompts = genevalPrompts();
writeFileSync(
  path.join(out, 'prompt_tokens.npy'),
  npy(
    cat(
      prompts.map((p) => tokenize(p.prompt, DEMO_VOCAB, T)),
      (n) => new Int32Array(n),
    ),
    '<i4',
    [prompts.length, T],
  ),
);
writeFileSync(
  path.join(out, 'meta.json'),
  JSON.stringify(
    { rows: N, max_tokens: T, longest_caption_words: longest, vocab: DEMO_VOCAB.length, rewards: REWARDS, prompts: prompts.length },
    null,
    1,
  ),
);
console.log(`wrote ${N} rows to ${out} (longest caption ${longest} words, T = ${T})`);
process.exit(0);
