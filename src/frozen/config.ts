// Configs of the frozen models the paper's model path uses (configs/encoders/*.yaml): a text
// encoder (FLAN-T5-XL's encoder in the paper) whose last hidden state conditions the model, and a
// VAE (SDXL's) whose latents the model is trained on. Files come from a Hub repository or from an
// export (scripts/export/); errors name the config file and key.

import { readConfigFile } from '../onnx/config-file.js';
import { readModelFiles, type ModelFiles } from '../onnx/model-files.js';
import type { ExecutionProvider as Provider } from '../onnx/session.js';

export interface TextEncoderConfig extends ModelFiles {
  kind: 'text-encoder';
  text: { max_tokens: number; input_ids: string; attention_mask: string | null; eos_token_id: number; pad_token_id: number };
  /** The output holding [B, T, E] per-token states. */
  output: string;
  embed_dim: number;
  batch_size: number;
  execution_provider: Provider;
}

/** Per-channel latent normalisation, z_norm = (z - mean) * scale / std (the official code: scale 0.5). */
export interface LatentNormalization {
  mean: number[];
  std: number[];
  scale: number;
}

export interface VaeConfig extends ModelFiles {
  kind: 'vae';
  /** Images are resized (short side) and centre-cropped to this many pixels before encoding. */
  resolution: number;
  /** Pixels per latent cell along each side (8 for SDXL's VAE). */
  factor: number;
  /** Latent channels (4 for SDXL's VAE). */
  channels: number;
  inputs: { encoder: string; decoder: string };
  outputs: { mean: string; std: string; sample: string };
  normalization: LatentNormalization;
  batch_size: number;
  execution_provider: Provider;
}

const PROVIDERS: Provider[] = ['cpu', 'cuda', 'webgpu'];

export function loadTextEncoderConfig(file: string): TextEncoderConfig {
  const cf = readConfigFile(file, 'model config');
  const { raw, bad, mapping } = cf;
  if (raw.kind !== 'text-encoder') bad('kind', `expected text-encoder, got ${JSON.stringify(raw.kind)}`);
  const m = readModelFiles(file, cf);
  for (const need of ['model', 'tokenizer']) if (!m.files[need]) bad(`files.${need}`, 'a text encoder needs it');
  const t = mapping(raw.text ?? {}, 'text');
  return {
    ...m,
    kind: 'text-encoder',
    text: {
      max_tokens: positiveInt(t.max_tokens ?? 128, 'text.max_tokens', bad),
      input_ids: String(t.input_ids ?? 'input_ids'),
      attention_mask: t.attention_mask === null ? null : String(t.attention_mask ?? 'attention_mask'),
      eos_token_id: Number(t.eos_token_id ?? 1),
      pad_token_id: Number(t.pad_token_id ?? 0),
    },
    output: String(raw.output ?? 'last_hidden_state'),
    embed_dim: positiveInt(raw.embed_dim ?? bad('embed_dim', 'missing (2048 for FLAN-T5-XL)'), 'embed_dim', bad),
    batch_size: positiveInt(raw.batch_size ?? 16, 'batch_size', bad),
    execution_provider: provider(raw.execution_provider, bad),
  };
}

export function loadVaeConfig(file: string): VaeConfig {
  const cf = readConfigFile(file, 'model config');
  const { raw, bad, mapping } = cf;
  if (raw.kind !== 'vae') bad('kind', `expected vae, got ${JSON.stringify(raw.kind)}`);
  const m = readModelFiles(file, cf);
  for (const need of ['encoder', 'decoder']) if (!m.files[need]) bad(`files.${need}`, 'a VAE needs it');
  const channels = positiveInt(raw.channels ?? 4, 'channels', bad);
  const factor = positiveInt(raw.factor ?? 8, 'factor', bad);
  const resolution = positiveInt(raw.resolution ?? 256, 'resolution', bad);
  if (resolution % factor) bad('resolution', `must be a multiple of factor (${factor})`);
  const n = mapping(raw.normalization ?? bad('normalization', 'missing: {mean: [...], std: [...], scale}'), 'normalization');
  const vector = (v: unknown, key: string) =>
    Array.isArray(v) && v.length === channels && v.every((x) => typeof x === 'number' && Number.isFinite(x))
      ? (v as number[])
      : bad(key, `expected ${channels} numbers, one per latent channel`);
  const std = vector(n.std, 'normalization.std');
  if (std.some((s) => s <= 0)) bad('normalization.std', 'every std must be positive');
  const inputs = mapping(raw.inputs ?? {}, 'inputs');
  const outputs = mapping(raw.outputs ?? {}, 'outputs');
  return {
    ...m,
    kind: 'vae',
    resolution,
    factor,
    channels,
    inputs: { encoder: String(inputs.encoder ?? 'sample'), decoder: String(inputs.decoder ?? 'latent') },
    outputs: {
      mean: String(outputs.mean ?? 'latent_mean'),
      std: String(outputs.std ?? 'latent_std'),
      sample: String(outputs.sample ?? 'sample'),
    },
    normalization: { mean: vector(n.mean, 'normalization.mean'), std, scale: Number(n.scale ?? 0.5) },
    batch_size: positiveInt(raw.batch_size ?? 8, 'batch_size', bad),
    execution_provider: provider(raw.execution_provider, bad),
  };
}

/** What a frozen model's outputs depend on: its files (by hash where pinned) and settings. */
export function frozenIdentity(cfg: TextEncoderConfig | VaeConfig): unknown {
  const { file: _file, dir: _dir, batch_size: _b, execution_provider: _e, ...rest } = cfg;
  return { ...rest, files: Object.fromEntries(Object.entries(cfg.files).map(([k, f]) => [k, f.sha256 ?? f.path])) };
}

function positiveInt(v: unknown, key: string, bad: (k: string, why: string) => never): number {
  return Number.isInteger(v) && (v as number) > 0 ? (v as number) : bad(key, `expected a positive integer, got ${JSON.stringify(v)}`);
}

function provider(v: unknown, bad: (k: string, why: string) => never): Provider {
  if (v === undefined || v === null) return 'cpu';
  return PROVIDERS.includes(v as Provider) ? (v as Provider) : bad('execution_provider', `expected one of ${PROVIDERS.join(', ')}`);
}
