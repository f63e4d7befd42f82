// Tiny reward models built by the tests: ONNX graphs written with onnx-proto (IR 8, opset 17,
// which ONNX Runtime 1.30 loads), a word-level tokenizer.json, and scorer configs pointing at them.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { encodeSafetensors } from '../src/util/safetensors.ts';

const { onnx } = onnxProto;
const FLOAT = 1;
const INT64 = 7;

function tensor(name: string, dims: number[], values: number[] | bigint[], type = FLOAT) {
  const bytes =
    type === FLOAT
      ? new Uint8Array(Float32Array.from(values as number[]).buffer)
      : new Uint8Array(BigInt64Array.from(values as bigint[]).buffer);
  return onnx.TensorProto.create({ name, dims, dataType: type, rawData: bytes });
}

function valueInfo(name: string, type: number, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: type, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

function node(op: string, inputs: string[], outputs: string[], attrs: Record<string, number | number[] | string> = {}) {
  return onnx.NodeProto.create({
    opType: op,
    input: inputs,
    output: outputs,
    attribute: Object.entries(attrs).map(([name, v]) =>
      typeof v === 'string'
        ? { name, s: new TextEncoder().encode(v), type: 3 }
        : Array.isArray(v)
          ? { name, ints: v, type: 7 }
          : { name, i: v, type: 2 },
    ),
  });
}

async function writeModel(
  file: string,
  nodes: ReturnType<typeof node>[],
  inits: ReturnType<typeof tensor>[],
  inputs: ReturnType<typeof valueInfo>[],
  outputs: ReturnType<typeof valueInfo>[],
) {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'miro-tests',
    graph: { name: 'g', node: nodes, initializer: inits, input: inputs, output: outputs },
  });
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, onnx.ModelProto.encode(model).finish());
}

export const VOCAB = [
  '<pad>',
  '<bos>',
  '<eos>',
  '[unk]',
  'a',
  'red',
  'blue',
  'circle',
  'square',
  'two',
  'of',
  'does',
  'this',
  'figure',
  'show',
  'please',
  'answer',
  'yes',
  'or',
  'no',
];
export const D = 4;

/** Deterministic weights so tests can recompute every score by hand. */
export const W_IMAGE = Array.from({ length: 3 * D }, (_, i) => Math.sin(i + 1)); // [3, D]
export const E_TEXT = Array.from({ length: VOCAB.length * D }, (_, i) => Math.cos(i * 0.7)); // [V, D]

export async function writeTokenizer(dir: string): Promise<void> {
  const special = ['<pad>', '<bos>', '<eos>'].map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special,
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '<bos>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<eos>', type_id: 0 } },
      ],
      pair: [],
      special_tokens: { '<bos>': { id: '<bos>', ids: [1], tokens: ['<bos>'] }, '<eos>': { id: '<eos>', ids: [2], tokens: ['<eos>'] } },
    },
    decoder: null,
    model: { type: 'WordLevel', vocab: Object.fromEntries(VOCAB.map((w, i) => [w, i])), unk_token: '[unk]' },
  };
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
}

/** pixel_values [B,3,S,S] -> mean over pixels [B,3] -> x W [3,D] -> image_embeds [B,D]. */
export async function writeVision(file: string): Promise<void> {
  await writeModel(
    file,
    [node('ReduceMean', ['pixel_values'], ['m'], { axes: [2, 3], keepdims: 0 }), node('MatMul', ['m', 'W'], ['image_embeds'])],
    [tensor('W', [3, D], W_IMAGE)],
    [valueInfo('pixel_values', FLOAT, ['B', 3, 'S', 'S'])],
    [valueInfo('image_embeds', FLOAT, ['B', D])],
  );
}

/** input_ids [B,T] -> embeddings masked by attention_mask, summed over T -> text_embeds [B,D]. */
export async function writeText(file: string): Promise<void> {
  await writeModel(
    file,
    [
      node('Gather', ['E', 'input_ids'], ['e']),
      node('Cast', ['attention_mask'], ['mf'], { to: FLOAT }),
      node('Unsqueeze', ['mf', 'axis2'], ['m3']),
      node('Mul', ['e', 'm3'], ['em']),
      node('ReduceSum', ['em', 'axis1'], ['text_embeds'], { keepdims: 0 }),
    ],
    [tensor('E', [VOCAB.length, D], E_TEXT), tensor('axis2', [1], [2n], INT64), tensor('axis1', [1], [1n], INT64)],
    [valueInfo('input_ids', INT64, ['B', 'T']), valueInfo('attention_mask', INT64, ['B', 'T'])],
    [valueInfo('text_embeds', FLOAT, ['B', D])],
  );
}

/** pixel_values and text -> one number per row: a reward (blip-reward), or logits over VOCAB (vqa). */
export async function writeJoint(file: string, outputName: 'reward' | 'logits'): Promise<void> {
  const outDim = outputName === 'reward' ? 1 : VOCAB.length;
  const V = Array.from({ length: D * outDim }, (_, i) => Math.sin(0.3 * i + 0.5));
  await writeModel(
    file,
    [
      node('ReduceMean', ['pixel_values'], ['m'], { axes: [2, 3], keepdims: 0 }),
      node('MatMul', ['m', 'W'], ['img']),
      node('Gather', ['E', 'input_ids'], ['e']),
      node('Cast', ['attention_mask'], ['mf'], { to: FLOAT }),
      node('Unsqueeze', ['mf', 'axis2'], ['m3']),
      node('Mul', ['e', 'm3'], ['em']),
      node('ReduceSum', ['em', 'axis1'], ['txt'], { keepdims: 0 }),
      node('Mul', ['img', 'txt'], ['joint']),
      node('MatMul', ['joint', 'V'], outputName === 'reward' ? ['r2'] : [outputName]),
      ...(outputName === 'reward' ? [node('Squeeze', ['r2', 'axis1'], ['reward'])] : []),
    ],
    [
      tensor('W', [3, D], W_IMAGE),
      tensor('E', [VOCAB.length, D], E_TEXT),
      tensor('V', [D, outDim], V),
      tensor('axis2', [1], [2n], INT64),
      tensor('axis1', [1], [1n], INT64),
    ],
    [
      valueInfo('pixel_values', FLOAT, ['B', 3, 'S', 'S']),
      valueInfo('input_ids', INT64, ['B', 'T']),
      valueInfo('attention_mask', INT64, ['B', 'T']),
    ],
    [valueInfo(outputName, FLOAT, outputName === 'reward' ? ['B'] : ['B', outDim])],
  );
}

export const JOINT_V = (outDim: number) => Array.from({ length: D * outDim }, (_, i) => Math.sin(0.3 * i + 0.5));

/** The aesthetic MLP head D -> 3 -> 1 as safetensors (layers.0, layers.1; no activations). */
export const MLP = {
  w0: [0.5, -0.2, 0.1, 0.3, 0.2, 0.4, -0.1, 0.0, -0.3, 0.1, 0.2, 0.5],
  b0: [0.1, 0.0, -0.1],
  w1: [1.5, -0.5, 2.0],
  b1: [4.0],
};

export async function writeMlp(file: string): Promise<void> {
  const t = new Map([
    ['layers.0.weight', { shape: [3, D], data: Float32Array.from(MLP.w0) }],
    ['layers.0.bias', { shape: [3], data: Float32Array.from(MLP.b0) }],
    ['layers.1.weight', { shape: [1, 3], data: Float32Array.from(MLP.w1) }],
    ['layers.1.bias', { shape: [1], data: Float32Array.from(MLP.b1) }],
  ]);
  await fs.writeFile(file, encodeSafetensors(t));
}

/** A model folder with every file and a scorer config for each of the four kinds. */
export async function writeRewardModels(dir: string): Promise<Record<'clip' | 'clipMlp' | 'blip' | 'vqa', string>> {
  const m = path.join(dir, 'model');
  await writeTokenizer(m);
  await writeVision(path.join(m, 'onnx/vision_model.onnx'));
  await writeText(path.join(m, 'onnx/text_model.onnx'));
  await writeJoint(path.join(m, 'onnx/reward.onnx'), 'reward');
  await writeJoint(path.join(m, 'onnx/vqa.onnx'), 'logits');
  await writeMlp(path.join(m, 'aesthetic_mlp.safetensors'));
  const common = `model_dir: model\nbatch_size: 2\nimage: {size: 4, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}\ntext: {max_tokens: 6, eos_token_id: 2, pad_token_id: 0}\n`;
  const configs = {
    clip: `name: tinyclip\nkind: clip\nfiles: {vision: onnx/vision_model.onnx, text: onnx/text_model.onnx, tokenizer: tokenizer.json}\nscore: {scale: 100}\n${common}`,
    clipMlp: `name: tinyaesthetic\nkind: clip-mlp\nfiles: {vision: onnx/vision_model.onnx, mlp: aesthetic_mlp.safetensors}\n${common}`,
    blip: `name: tinyimagereward\nkind: blip-reward\nfiles: {model: onnx/reward.onnx, tokenizer: tokenizer.json}\nscore: {mean: 0.16717362830052426, std: 1.0333394966054072}\n${common}`,
    vqa: `name: tinyvqa\nkind: vqa\nfiles: {model: onnx/vqa.onnx, tokenizer: tokenizer.json}\nscore: {yes_token_id: 17}\nmodel_dir: model\nbatch_size: 2\nimage: {size: 4, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}\ntext: {question: 'Does this figure show "{caption}"? Please answer yes or no.', max_tokens: 16, eos_token_id: 2, pad_token_id: 0}\n`,
  };
  const out = {} as Record<'clip' | 'clipMlp' | 'blip' | 'vqa', string>;
  for (const [k, v] of Object.entries(configs)) {
    out[k as keyof typeof out] = path.join(dir, `${k}.yaml`);
    await fs.writeFile(out[k as keyof typeof out], v);
  }
  return out;
}

// --- The paper's frozen models, tiny: a T5-style text encoder and a VAE (scripts/export's contracts).

/** A T5-style tokenizer: SentencePiece Unigram pieces with the "▁" word marker, </s> appended, pad 0. */
export const T5_PIECES = ['<pad>', '</s>', '<unk>', '▁a', '▁red', '▁blue', '▁circle', '▁square', '▁two', '▁of', '▁the', '▁left', '▁right'];
export const T5_EOS = 1;

export async function writeT5Tokenizer(dir: string): Promise<void> {
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<pad>', '</s>', '<unk>'].map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', add_prefix_space: true, prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [],
      special_tokens: { '</s>': { id: '</s>', ids: [T5_EOS], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', add_prefix_space: true, prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab: T5_PIECES.map((p, i) => [p, i < 3 ? 0 : -1 - i / 100]), byte_fallback: false },
  };
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
}

/** Text states: E_T5[id] for each kept token, zero for padding. [V, EMBED]. */
export const T5_EMBED = 8;
export const E_T5 = Array.from({ length: T5_PIECES.length * T5_EMBED }, (_, i) => Math.sin(0.37 * i + 0.1));

/** input_ids, attention_mask [B, T] -> last_hidden_state [B, T, EMBED] = E_T5[id] * mask. */
export async function writeT5Encoder(file: string): Promise<void> {
  await writeModel(
    file,
    [
      node('Gather', ['E', 'input_ids'], ['e']),
      node('Cast', ['attention_mask'], ['mf'], { to: FLOAT }),
      node('Unsqueeze', ['mf', 'axis2'], ['m3']),
      node('Mul', ['e', 'm3'], ['last_hidden_state']),
    ],
    [tensor('E', [T5_PIECES.length, T5_EMBED], E_T5), tensor('axis2', [1], [2n], INT64)],
    [valueInfo('input_ids', INT64, ['B', 'T']), valueInfo('attention_mask', INT64, ['B', 'T'])],
    [valueInfo('last_hidden_state', FLOAT, ['B', 'T', T5_EMBED])],
  );
}

/** The VAE: factor-8 average pooling, then 1x1 convolutions to the mean and log-std of 4 channels. */
export const VAE_FACTOR = 8;
export const VAE_MEAN_W = Array.from({ length: 12 }, (_, i) => Math.cos(i + 0.5)); // [4, 3]
export const VAE_MEAN_B = [0.5, -0.25, 1, 2];
export const VAE_LOGSTD_W = Array.from({ length: 12 }, (_, i) => 0.1 * Math.sin(i)); // [4, 3]
export const VAE_LOGSTD_B = [-2, -1.5, -1, -2.5];
export const VAE_DEC_W = Array.from({ length: 12 }, (_, i) => 0.3 * Math.sin(2 * i + 1)); // [3, 4]
export const VAE_DEC_B = [0.1, -0.1, 0];

/** sample [B,3,R,R] in [-1,1] -> latent_mean, latent_std [B,4,R/8,R/8]. */
export async function writeVaeEncoder(file: string): Promise<void> {
  const f = VAE_FACTOR;
  await writeModel(
    file,
    [
      node('AveragePool', ['sample'], ['pooled'], { kernel_shape: [f, f], strides: [f, f] }),
      node('Conv', ['pooled', 'WM', 'BM'], ['latent_mean']),
      node('Conv', ['pooled', 'WS', 'BS'], ['logstd']),
      node('Exp', ['logstd'], ['latent_std']),
    ],
    [
      tensor('WM', [4, 3, 1, 1], VAE_MEAN_W),
      tensor('BM', [4], VAE_MEAN_B),
      tensor('WS', [4, 3, 1, 1], VAE_LOGSTD_W),
      tensor('BS', [4], VAE_LOGSTD_B),
    ],
    [valueInfo('sample', FLOAT, ['B', 3, 'R', 'R'])],
    [valueInfo('latent_mean', FLOAT, ['B', 4, 'h', 'h']), valueInfo('latent_std', FLOAT, ['B', 4, 'h', 'h'])],
  );
}

/** latent [B,4,h,h] -> sample [B,3,8h,8h] = nearest-upsampled tanh(1x1 conv). */
export async function writeVaeDecoder(file: string): Promise<void> {
  const f = VAE_FACTOR;
  await writeModel(
    file,
    [
      node('Conv', ['latent', 'WD', 'BD'], ['d']),
      node('Tanh', ['d'], ['t']),
      node('Resize', ['t', '', 'scales'], ['sample'], { mode: 'nearest' }),
    ],
    [tensor('WD', [3, 4, 1, 1], VAE_DEC_W), tensor('BD', [3], VAE_DEC_B), tensor('scales', [4], [1, 1, f, f])],
    [valueInfo('latent', FLOAT, ['B', 4, 'h', 'h'])],
    [valueInfo('sample', FLOAT, ['B', 3, 'R', 'R'])],
  );
}

/** Official-style normalisation constants (the SDXL-VAE ones), so tests check the real arithmetic. */
export const VAE_NORM = { mean: [-0.348, 0.3754, 0.0419, 2.4331], std: [7.8518, 5.8465, 6.8716, 5.314], scale: 0.5 };

/** A tiny T5-style text encoder and VAE with their configs; returns the config paths. */
export async function writeFrozenModels(dir: string, resolution = 32): Promise<{ textEncoder: string; vae: string }> {
  const t = path.join(dir, 'frozen', 't5');
  const v = path.join(dir, 'frozen', 'vae');
  await writeT5Tokenizer(t);
  await writeT5Encoder(path.join(t, 'onnx/encoder.onnx'));
  await writeVaeEncoder(path.join(v, 'onnx/vae_encoder.onnx'));
  await writeVaeDecoder(path.join(v, 'onnx/vae_decoder.onnx'));
  const textEncoder = path.join(dir, 'text-encoder.yaml');
  const vae = path.join(dir, 'vae.yaml');
  await fs.writeFile(
    textEncoder,
    `name: tiny-t5\nkind: text-encoder\nmodel_dir: frozen/t5\nfiles: {model: onnx/encoder.onnx, tokenizer: tokenizer.json}\ntext: {max_tokens: 8, eos_token_id: ${T5_EOS}, pad_token_id: 0}\nembed_dim: ${T5_EMBED}\nbatch_size: 5\n`,
  );
  await fs.writeFile(
    vae,
    `name: tiny-vae\nkind: vae\nmodel_dir: frozen/vae\nfiles: {encoder: onnx/vae_encoder.onnx, decoder: onnx/vae_decoder.onnx}\nresolution: ${resolution}\nfactor: ${VAE_FACTOR}\nchannels: 4\nnormalization: {mean: [${VAE_NORM.mean}], std: [${VAE_NORM.std}], scale: ${VAE_NORM.scale}}\nbatch_size: 3\n`,
  );
  return { textEncoder, vae };
}
