// Where a model's files come from and where they live, for any model config (scorer, text encoder,
// VAE): the `name`, `hub`, `model_dir` and `files` keys, validated, and the model cache they resolve to.

import os from 'node:os';
import path from 'node:path';
import { readConfigFile, type ConfigFile } from './config-file.js';
import { settings } from '../util/settings.js';

export interface ModelFile {
  path: string;
  sha256: string | null;
}

export function modelCache(): string {
  return settings().modelCache ?? path.join(os.homedir(), '.cache', 'miro', 'models');
}

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

/** A Hub repo id (owner/name) or revision becomes folders of the model cache: a plain name, never `..`. */
function hubName(v: string, rule: RegExp, bad: (why: string) => never): string {
  return rule.test(v) && !v.split('/').some((part) => part === '..' || part === '.')
    ? v
    : bad(`${JSON.stringify(v)} is not a Hub name (letters, digits, '.', '_', '-'; a repo is owner/name)`);
}

export function filePath(cfg: Pick<ModelFiles, 'dir' | 'files'>, key: string): string {
  return path.join(cfg.dir, cfg.files[key]!.path);
}
