// How to keep FLAN-T5-XL caption states (2048 wide, up to 128 tokens) for training: stored per row
// in Parquet, or computed by the encoder inside every train step. Writes the same captions' states
// three ways through the store's real writer (zstd Parquet) and reads them back into the Float32
// arrays the train loader builds:
//   f32_padded   FLOAT[] of 128 x 2048 (padding included): the "1 MB a caption" baseline
//   f16_padded   float16 BLOB of 128 x 2048
//   f16_tokens   float16 BLOB of the caption's own tokens only (what text_embed stores)
// Caption lengths follow a web mix (real alt text short, synthetic long); values are N(0, 0.25),
// which compress about as badly as real encoder states do. The on-the-fly alternative is costed in
// FLOPs below (T5-XL's encoder cannot run on this machine).

import path from 'node:path';
import { statSync } from 'node:fs';
import { writeParquet, connect, sqlString } from '../src/store/duck.ts';
import type { Batch, Column } from '../src/store/batch.ts';
import { encodeFloat16, decodeFloat16 } from '../src/util/float16.ts';
import { Rng } from '../src/util/random.ts';
import { benchDir, report, timed } from './util.ts';

const E = 2048;
const T = 128;
const N = Number(process.env.BENCH_CAPTIONS ?? 96);
const dir = benchDir('text-embed');
const rng = new Rng(7);
// Half short real captions (8-32 tokens), half long synthetic ones (48-128).
const lengths = Array.from({ length: N }, (_, i) => (i % 2 ? 8 + Math.floor(rng.uniform() * 25) : 48 + Math.floor(rng.uniform() * 81)));
const states = lengths.map((n) => Float32Array.from(rng.normals(n * E), (v) => v * 0.25));
const meanTokens = lengths.reduce((a, b) => a + b, 0) / N;
console.log(`# ${N} captions, mean ${meanTokens.toFixed(1)} tokens of ${T}, width ${E}`);

const padded = (s: Float32Array) => {
  const out = new Float32Array(T * E);
  out.set(s);
  return out;
};
const variants: { name: string; type: Column['type']; value: (s: Float32Array) => Uint8Array | number[] }[] = [
  { name: 'f32_padded', type: 'FLOAT[]', value: (s) => Array.from(padded(s)) },
  { name: 'f16_padded', type: 'BLOB', value: (s) => encodeFloat16(padded(s)) },
  { name: 'f16_tokens', type: 'BLOB', value: (s) => encodeFloat16(s) },
];

const conn = await connect();
const rates: Record<string, number> = {};
for (const v of variants) {
  const file = path.join(dir, `${v.name}.parquet`);
  const batches = function* (): Iterable<Batch> {
    for (let start = 0; start < N; start += 16) {
      const part = states.slice(start, start + 16);
      yield {
        rows: part.length,
        columns: {
          id: part.map((_, i) => String(start + i).padStart(6, '0')),
          embedding: part.map(v.value),
          tokens: Int32Array.from(lengths.slice(start, start + 16)),
        },
      };
    }
  };
  const columns: Column[] = [
    { name: 'id', type: 'VARCHAR' },
    { name: 'embedding', type: v.type },
    { name: 'tokens', type: 'INTEGER' },
  ];
  const write = await timed(() => writeParquet(columns, batches(), file, { context: v.name }));
  const bytes = statSync(file).size;
  // Read back as the loader does: rows in batches, each into a padded [T, E] float32 buffer.
  const read = await timed(async () => {
    const buf = new Float32Array(T * E);
    const reader = await conn.streamAndReadUntil(`SELECT embedding, tokens FROM read_parquet(${sqlString(file)})`, N);
    for (const row of reader.getRows()) {
      buf.fill(0);
      if (v.type === 'BLOB') decodeFloat16((row[0] as { bytes: Uint8Array }).bytes, buf);
      else buf.set((row[0] as { items: number[] }).items);
    }
  });
  report(`text_embed.${v.name}_bytes_per_caption`, bytes / N, 'B');
  report(`text_embed.${v.name}_write_captions_per_s`, N / write.secs, 'captions/s');
  report(`text_embed.${v.name}_read_captions_per_s`, N / read.secs, 'captions/s');
  rates[v.name] = N / read.secs;
  rates[`${v.name}_bytes`] = bytes / N;
}
conn.closeSync();
report('text_embed.size_f32_padded_over_f16_tokens', rates.f32_padded_bytes! / rates.f16_tokens_bytes!, 'x');
report('text_embed.read_f16_tokens_over_f32_padded', rates.f16_tokens! / rates.f32_padded!, 'x');

// The alternative: run the encoder in each step. T5-XL's encoder has 24 layers of width 2048
// (attention 4 x 2048^2, gated FFN 3 x 2048 x 5120): about 1.16e9 weights, 2 FLOPs each per token.
const flopsPerToken = 2 * 24 * (4 * E * E + 3 * E * 5120);
console.log(
  `# on the fly: ~${((flopsPerToken * meanTokens) / 1e9).toFixed(0)} GFLOP per caption at ${meanTokens.toFixed(0)} tokens, ` +
    `~${((flopsPerToken * meanTokens * 1024) / 1e12).toFixed(0)} TFLOP per 1024-caption batch, every step of 500k`,
);
