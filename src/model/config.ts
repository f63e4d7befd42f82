// Model configuration: a preset from configs/models/, a variant (which reward tokens), and the
// resolved text vocabulary. A checkpoint carries the whole resolved config.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { MiroError } from '../errors.js';
import { DEMO_VOCAB } from './tokenizer.js';

export interface ModelConfig {
  preset: string;
  variant: string;
  image_size: number;
  channels: number;
  patch: number;
  dim: number;
  heads: number;
  latents: number;
  blocks: number;
  self_per_block: number;
  mlp_ratio: number;
  fourier_features: number;
  /** Add fixed 2-D sin-cos positions (unit scale) to the data tokens, so position survives noise. */
  fixed_positions?: boolean;
  /** Mix each data token with its 3x3 neighbourhood after every write (a convolution over tokens). */
  local_mix?: boolean;
  text:
    | { kind: 'learned'; max_tokens: number; layers: number; vocab: string[] }
    | { kind: 'precomputed'; embed_dim: number; max_tokens: number };
  /** Rewards that get a token, in order: all for `miro`, none for `baseline`, one for `single:<r>`. */
  rewards: string[];
  /**
   * For presets on VAE latents with precomputed text: the frozen models the data came from (as the
   * latents and text_embed nodes recorded them), which the sampler loads to encode prompts and
   * decode latents. image_size and channels are then the latent grid's.
   */
  frozen?: FrozenModels;
}

export interface FrozenModels {
  text_encoder: { name: string; config: string };
  vae: { name: string; config: string; resolution: number; normalization: { mean: number[]; std: number[]; scale: number } };
}

/** Side of the images a model produces: the VAE's resolution for a latent model, else image_size. */
export function pixelSize(cfg: ModelConfig): number {
  return cfg.frozen?.vae.resolution ?? cfg.image_size;
}

export const CONFIG_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../configs/models');

/** Resolves `preset` + `variant` over the dataset's reward names. */
export function modelConfig(preset: string, variant: string, allRewards: string[]): ModelConfig {
  let raw: Record<string, unknown>;
  try {
    raw = parse(readFileSync(path.join(CONFIG_DIR, `${preset}.yaml`), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new MiroError(`unknown model preset "${preset}" (configs/models/${preset}.yaml: ${(err as Error).message})`);
  }
  let rewards: string[];
  if (variant === 'miro') rewards = [...allRewards];
  else if (variant === 'baseline') rewards = [];
  else if (variant.startsWith('single:')) {
    const r = variant.slice('single:'.length);
    if (!allRewards.includes(r)) throw new MiroError(`variant ${variant}: no reward "${r}" (rewards: ${allRewards.join(', ')})`);
    rewards = [r];
  } else throw new MiroError(`unknown variant "${variant}" (miro, baseline, single:<reward>)`);
  const text = raw.text as Record<string, unknown>;
  const cfg = { ...raw, preset, variant, rewards, text: text.kind === 'learned' ? { ...text, vocab: DEMO_VOCAB } : text } as ModelConfig;
  if (cfg.image_size % cfg.patch !== 0) throw new MiroError(`preset ${preset}: image_size must be a multiple of patch`);
  if (cfg.dim % cfg.heads !== 0) throw new MiroError(`preset ${preset}: dim must be a multiple of heads`);
  return cfg;
}
