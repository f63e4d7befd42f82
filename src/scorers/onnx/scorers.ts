// The paper's reward models on ONNX Runtime, as four scorer kinds:
//   clip        image and text towers, score = scale x cosine (PickScore, HPSv2, SciScore, JINA CLIP)
//   clip-mlp    the L2-normalised CLIP-L image embedding through the aesthetic MLP (safetensors)
//   blip-reward an ImageReward export, normalised (r - mean) / std
//   vqa         an exported VQA model: P("Yes") from its answer logits
// Batches are preprocessed one ahead, so image work overlaps the session's run.

import type * as Ort from 'onnxruntime-node';
import type { Scorer, ScoreInput } from '../types.js';
import { loadScorerConfig, onnxIdentity, type OnnxScorerConfig } from './config.js';
import { preprocessBatch } from './preprocess.js';
import { PaddedTokenizer } from '../../onnx/tokenizer.js';
import { onnxRuntime, openSession } from '../../onnx/session.js';
import { filePath } from '../../onnx/model-files.js';
import { readSafetensors } from '../../util/safetensors.js';
import { MiroError } from '../../errors.js';

function l2rows(data: Float32Array, rows: number): Float32Array[] {
  const d = data.length / rows;
  return Array.from({ length: rows }, (_, i) => {
    const v = data.subarray(i * d, (i + 1) * d);
    const n = Math.hypot(...v) || 1;
    return Float32Array.from(v, (x) => x / n);
  });
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

function output(cfg: OnnxScorerConfig, result: Ort.InferenceSession.OnnxValueMapType, key: string, fallback: string): Float32Array {
  const name = cfg.outputs[key] ?? fallback;
  const t = result[name];
  if (!t)
    throw new MiroError(`scorer ${cfg.name}: the model has no output "${name}" (outputs.${key}; it has ${Object.keys(result).join(', ')})`);
  return t.data as Float32Array;
}

/** Runs `run` over batches of `size`, preparing batch i+1 while batch i runs. */
async function pipelined<P>(
  items: ScoreInput[],
  size: number,
  prepare: (b: ScoreInput[]) => Promise<P>,
  run: (p: P, n: number) => Promise<(number | null)[]>,
): Promise<(number | null)[]> {
  const out: (number | null)[] = [];
  let next: Promise<P> | null = items.length ? prepare(items.slice(0, size)) : null;
  for (let start = 0; start < items.length; start += size) {
    const prepared = await next!;
    const n = Math.min(size, items.length - start);
    next = start + size < items.length ? prepare(items.slice(start + size, start + 2 * size)) : null;
    out.push(...(await run(prepared, n)));
  }
  return out;
}

export async function loadOnnxScorer(configFile: string): Promise<Scorer> {
  const cfg = loadScorerConfig(configFile);
  const O = await onnxRuntime();
  const S = cfg.image.size;
  const pixels = (b: ScoreInput[]) =>
    preprocessBatch(
      b.map((x) => x.image),
      S,
      cfg.image.mean,
      cfg.image.std,
      b.map((x) => x.bytes),
      cfg.image.reference,
    );
  const base = { name: cfg.name, identity: onnxIdentity(cfg), doc: `${cfg.kind} reward model from ${cfg.file}` };
  const textInputs = (tok: PaddedTokenizer, captions: string[]) => {
    const { ids, mask } = tok.encode(captions);
    const feeds: Record<string, Ort.Tensor> = { [cfg.text.input_ids]: new O.Tensor('int64', ids, [captions.length, cfg.text.max_tokens]) };
    if (cfg.text.attention_mask) feeds[cfg.text.attention_mask] = new O.Tensor('int64', mask, [captions.length, cfg.text.max_tokens]);
    return feeds;
  };

  switch (cfg.kind) {
    case 'clip': {
      const [vision, text, tok] = await Promise.all([
        openSession(cfg, 'vision'),
        openSession(cfg, 'text'),
        PaddedTokenizer.load(filePath(cfg, 'tokenizer'), cfg.text.max_tokens, cfg.text.eos_token_id, cfg.text.pad_token_id),
      ]);
      return {
        ...base,
        needsCaption: true,
        score: (batch) =>
          pipelined(
            batch,
            cfg.batch_size,
            async (b) => ({ px: await pixels(b), captions: b.map((x) => x.caption ?? '') }),
            async ({ px, captions }, n) => {
              const [img, txt] = await Promise.all([
                vision.run({ [cfg.image.input]: new O.Tensor('float32', px, [n, 3, S, S]) }),
                text.run(textInputs(tok, captions)),
              ]);
              const a = l2rows(output(cfg, img, 'image_embeds', 'image_embeds'), n);
              const b = l2rows(output(cfg, txt, 'text_embeds', 'text_embeds'), n);
              return a.map((v, i) => cfg.score.scale * dot(v, b[i]!));
            },
          ),
      };
    }
    case 'clip-mlp': {
      const [vision, mlp] = await Promise.all([openSession(cfg, 'vision'), readSafetensors(filePath(cfg, 'mlp'))]);
      // The aesthetic head: Linear layers with no activations, applied in order of their names.
      const layers = [...mlp.tensors.keys()]
        .filter((k) => k.endsWith('.weight'))
        .sort((x, y) => Number(/\d+/.exec(x)?.[0]) - Number(/\d+/.exec(y)?.[0]))
        .map((k) => ({ w: mlp.tensors.get(k)!, b: mlp.tensors.get(k.replace(/weight$/, 'bias')) }));
      if (!layers.length) throw new MiroError(`scorer ${cfg.name}: ${filePath(cfg, 'mlp')} holds no *.weight tensors`);
      const head = (x: Float32Array) =>
        layers.reduce((v, { w, b }) => {
          const [outDim, inDim] = w.shape as [number, number];
          if (inDim !== v.length) throw new MiroError(`scorer ${cfg.name}: MLP layer expects ${inDim} inputs, got ${v.length}`);
          return Float32Array.from({ length: outDim }, (_, o) => dot(w.data.subarray(o * inDim, (o + 1) * inDim), v) + (b?.data[o] ?? 0));
        }, x)[0]!;
      return {
        ...base,
        needsCaption: false,
        score: (batch) =>
          pipelined(batch, cfg.batch_size, pixels, async (px, n) => {
            const img = await vision.run({ [cfg.image.input]: new O.Tensor('float32', px, [n, 3, S, S]) });
            return l2rows(output(cfg, img, 'image_embeds', 'image_embeds'), n).map((v) => cfg.score.scale * head(v));
          }),
      };
    }
    case 'blip-reward':
    case 'vqa': {
      const [model, tok] = await Promise.all([
        openSession(cfg, 'model'),
        PaddedTokenizer.load(filePath(cfg, 'tokenizer'), cfg.text.max_tokens, cfg.text.eos_token_id, cfg.text.pad_token_id),
      ]);
      const question = (c: string) => (cfg.text.question ?? '{caption}').replaceAll('{caption}', c);
      return {
        ...base,
        needsCaption: true,
        score: (batch) =>
          pipelined(
            batch,
            cfg.batch_size,
            async (b) => ({ px: await pixels(b), captions: b.map((x) => question(x.caption ?? '')) }),
            async ({ px, captions }, n) => {
              const res = await model.run({ [cfg.image.input]: new O.Tensor('float32', px, [n, 3, S, S]), ...textInputs(tok, captions) });
              if (cfg.kind === 'blip-reward')
                return Array.from(output(cfg, res, 'reward', 'reward').subarray(0, n), (r) => (r - cfg.score.mean) / cfg.score.std);
              // vqa: softmax over the answer logits, probability of the "Yes" token.
              const logits = output(cfg, res, 'logits', 'logits');
              const V = logits.length / n;
              const yes = cfg.score.yes_token_id ?? 0;
              return Array.from({ length: n }, (_, i) => {
                const row = logits.subarray(i * V, (i + 1) * V);
                const m = Math.max(...row);
                const z = row.reduce((s, x) => s + Math.exp(x - m), 0);
                return Math.exp(row[yes]! - m) / z;
              });
            },
          ),
      };
    }
  }
}
