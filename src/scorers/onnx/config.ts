// Reward-model configs (configs/scorers/*.yaml): which files, from which Hugging Face repo and
// revision, how to preprocess images and text, and the score formula. Validated on load; errors
// name the config file and key.

import { readConfigFile } from '../../onnx/config-file.js';
import { readModelFiles, type ModelFiles } from '../../onnx/model-files.js';
import type { ExecutionProvider } from '../../onnx/session.js';
import { REFERENCES, type Reference } from './reference.js';

export type ScorerKind = 'clip' | 'clip-mlp' | 'blip-reward' | 'vqa';

/** A reward model: where its files are (ModelFiles: `model_dir`, else <cache>/<repo>/<revision>), and how it scores. */
export interface OnnxScorerConfig extends ModelFiles {
  kind: ScorerKind;
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
  execution_provider: ExecutionProvider;
}

const KINDS: ScorerKind[] = ['clip', 'clip-mlp', 'blip-reward', 'vqa'];
const NEEDED: Record<ScorerKind, string[]> = {
  clip: ['vision', 'text', 'tokenizer'],
  'clip-mlp': ['vision', 'mlp'],
  'blip-reward': ['model', 'tokenizer'],
  vqa: ['model', 'tokenizer'],
};

export function loadScorerConfig(file: string): OnnxScorerConfig {
  const cf = readConfigFile(file, 'scorer config');
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
