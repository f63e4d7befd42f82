// Reward-model configs (configs/scorers/*.yaml): which files, from which Hugging Face repo and
// revision, how to preprocess images and text, and the score formula. Validated on load; errors
// name the config file and key.

import os from 'node:os';
import path from 'node:path';
import { readConfigFile, type ConfigFile } from '../config-file.js';
import { REFERENCES, type Reference } from './reference.js';

export type ScorerKind = 'clip' | 'clip-mlp' | 'blip-reward' | 'vqa';

export interface ModelFile {
  path: string;
  sha256: string | null;
}

export interface OnnxScorerConfig {
  file: string;
  name: string;
  kind: ScorerKind;
  hub: { repo: string; revision: string } | null;
  /** Folder holding the files: `model_dir` from the config, else <cache>/<repo>/<revision>. */
  dir: string;
  files: Record<string, ModelFile>;
  /** The export command that writes the files, when no repository publishes them. */
  export: string | null;
  image: {
    size: number;
    mean: [number, number, number];
    std: [number, number, number];
    input: string;
    /** Whose preprocessing the pixels reproduce (scorers/onnx/reference.ts). */
    reference: Reference;
  };
  text: {
    max_tokens: number;
    input_ids: string;
    attention_mask: string | null;
    eos_token_id: number;
    pad_token_id: number;
    question: string | null;
  };
  outputs: Record<string, string>;
  /** clip: scale x cosine; blip-reward: (r - mean) / std. */
  score: { scale: number; mean: number; std: number; yes_token_id: number | null };
  batch_size: number;
  execution_provider: 'cpu' | 'cuda' | 'webgpu';
}

export function modelCache(): string {
  return process.env.MIRO_MODELS ?? path.join(os.homedir(), '.cache', 'miro', 'models');
}

const KINDS: ScorerKind[] = ['clip', 'clip-mlp', 'blip-reward', 'vqa'];
const NEEDED: Record<ScorerKind, string[]> = {
  clip: ['vision', 'text', 'tokenizer'],
  'clip-mlp': ['vision', 'mlp'],
  'blip-reward': ['model', 'tokenizer'],
  vqa: ['model', 'tokenizer'],
};

/** Where a model's files come from and where they live: any model config (scorer, text encoder, VAE). */
export interface ModelFiles {
  file: string;
  name: string;
  hub: { repo: string; revision: string } | null;
  dir: string;
  files: Record<string, ModelFile>;
  /** How to make the files when no repository publishes them: the export command (scripts/export/). */
  export: string | null;
}

/** The `name`, `hub`, `model_dir` and `files` keys of a model config, validated. */
export function readModelFiles(file: string, cf: ConfigFile = readConfigFile(file)): ModelFiles {
  const { raw, bad, mapping: obj } = cf;
  const hubRaw = raw.hub ? obj(raw.hub, 'hub') : null;
  const hub = hubRaw
    ? {
        repo: hubName(
          String(hubRaw.repo ?? bad('hub.repo', 'missing')),
          /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/,
          (why) => bad('hub.repo', why),
        ),
        revision: hubName(String(hubRaw.revision ?? bad('hub.revision', 'missing')), /^[A-Za-z0-9][A-Za-z0-9._-]*$/, (why) =>
          bad('hub.revision', why),
        ),
      }
    : null;
  const filesRaw = obj(raw.files, 'files');
  const files: Record<string, ModelFile> = {};
  for (const [k, v] of Object.entries(filesRaw)) {
    const f = typeof v === 'string' ? { path: v } : obj(v, `files.${k}`);
    if (typeof f.path !== 'string') bad(`files.${k}.path`, 'missing');
    // Files are fetched into, and read from, the model's folder: a path may not leave it.
    if (path.isAbsolute(f.path as string) || (f.path as string).split(/[\\/]/).includes('..'))
      bad(`files.${k}.path`, `must be a relative path inside the model folder, got ${JSON.stringify(f.path)}`);
    if (/\.(pt|pth|bin|ckpt|pkl)$/.test(f.path as string))
      bad(
        `files.${k}.path`,
        'pickled checkpoints are never loaded; export to ONNX or safetensors once, outside the pipeline (scripts/export/README.md)',
      );
    // YAML reads an all-digit hash as a number, which loses digits: require the text.
    const sha =
      f.sha256 === undefined || f.sha256 === null
        ? null
        : typeof f.sha256 === 'string'
          ? f.sha256
          : bad(`files.${k}.sha256`, 'quote the hash in YAML');
    if (sha !== null && !/^[0-9a-f]{64}$/.test(sha)) bad(`files.${k}.sha256`, 'expected 64 hex digits (quote it in YAML)');
    files[k] = { path: f.path as string, sha256: sha };
  }
  const base = path.dirname(path.resolve(file));
  const dir =
    typeof raw.model_dir === 'string'
      ? path.resolve(base, raw.model_dir)
      : hub
        ? path.join(modelCache(), hub.repo, hub.revision)
        : bad('model_dir', 'give model_dir or hub');
  const exportCommand =
    raw.export === undefined || raw.export === null
      ? null
      : typeof raw.export === 'string'
        ? raw.export
        : bad('export', 'expected the export command as a string');
  return { file, name: String(raw.name ?? path.basename(file, '.yaml')), hub, dir, files, export: exportCommand };
}

export function loadScorerConfig(file: string): OnnxScorerConfig {
  const cf = readConfigFile(file);
  const { raw, bad, mapping: obj } = cf;
  const kind = raw.kind as ScorerKind;
  if (raw.kind === 'vqa-server') bad('kind', 'a vqa-server scorer has no model files: use it as scorer: vlm:<config>');
  if (!KINDS.includes(kind)) bad('kind', `expected one of ${KINDS.join(', ')}, got ${JSON.stringify(raw.kind)}`);
  const { name, hub, dir, files, export: exportCommand } = readModelFiles(file, cf);
  for (const need of NEEDED[kind]) if (!files[need]) bad(`files.${need}`, `a ${kind} scorer needs it`);
  const img = obj(raw.image ?? {}, 'image');
  const txt = obj(raw.text ?? {}, 'text');
  const sc = obj(raw.score ?? {}, 'score');
  const triple = (v: unknown, key: string, d: number[]) => {
    const a = (v ?? d) as number[];
    return Array.isArray(a) && a.length === 3 && a.every((x) => typeof x === 'number')
      ? (a as [number, number, number])
      : bad(key, 'expected three numbers');
  };
  return {
    file,
    name,
    kind,
    hub,
    dir,
    files,
    export: exportCommand,
    image: {
      size: Number(img.size ?? 224),
      mean: triple(img.mean, 'image.mean', [0.48145466, 0.4578275, 0.40821073]),
      std: triple(img.std, 'image.std', [0.26862954, 0.26130258, 0.27577711]),
      input: String(img.input ?? 'pixel_values'),
      reference: REFERENCES.includes(img.reference as Reference)
        ? (img.reference as Reference)
        : img.reference === undefined
          ? 'open_clip'
          : bad('image.reference', `expected one of ${REFERENCES.join(', ')}, got ${JSON.stringify(img.reference)}`),
    },
    text: {
      max_tokens: Number(txt.max_tokens ?? 77),
      input_ids: String(txt.input_ids ?? 'input_ids'),
      attention_mask: txt.attention_mask === null ? null : String(txt.attention_mask ?? 'attention_mask'),
      eos_token_id: Number(txt.eos_token_id ?? 49407),
      pad_token_id: Number(txt.pad_token_id ?? 49407),
      question: typeof txt.question === 'string' ? txt.question : null,
    },
    outputs: Object.fromEntries(Object.entries(obj(raw.outputs ?? {}, 'outputs')).map(([k, v]) => [k, String(v)])),
    score: {
      scale: Number(sc.scale ?? 1),
      mean: Number(sc.mean ?? 0),
      std: Number(sc.std ?? 1),
      yes_token_id: sc.yes_token_id === undefined ? null : Number(sc.yes_token_id),
    },
    batch_size: Number(raw.batch_size ?? 16),
    execution_provider: (raw.execution_provider as OnnxScorerConfig['execution_provider']) ?? 'cpu',
  };
}

/** A Hub repo id (owner/name) or revision becomes folders of the model cache: a plain name, never `..`. */
function hubName(v: string, rule: RegExp, bad: (why: string) => never): string {
  return rule.test(v) && !v.split('/').some((part) => part === '..' || part === '.')
    ? v
    : bad(`${JSON.stringify(v)} is not a Hub name (letters, digits, '.', '_', '-'; a repo is owner/name)`);
}

export function filePath(cfg: Pick<ModelFiles, 'dir' | 'files'>, key: string): string {
  return path.join(cfg.dir, cfg.files[key]!.path);
}

/** What a reward model's scores depend on: kind, files (by hash where given), preprocessing, formula. */
export function onnxIdentity(cfg: OnnxScorerConfig): unknown {
  return {
    onnx: cfg.name,
    kind: cfg.kind,
    hub: cfg.hub,
    files: Object.fromEntries(Object.entries(cfg.files).map(([k, f]) => [k, f.sha256 ?? f.path])),
    image: cfg.image,
    text: cfg.text,
    score: cfg.score,
  };
}
