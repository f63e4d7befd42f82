// Reading a model config (configs/scorers/*.yaml, configs/encoders/*.yaml): its YAML mapping, and errors that name the
// file and the key.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { MiroError } from '../errors.js';

export interface ConfigFile {
  raw: Record<string, unknown>;
  /** Throws `<what> <file>: <key>: <why>`. */
  bad: (key: string, why: string) => never;
  /** The value at `key` as a mapping, or the error that says it is not one. */
  mapping: (v: unknown, key: string) => Record<string, unknown>;
}

export function readConfigFile(file: string, what = 'model config'): ConfigFile {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MiroError(`${what} ${file}: ${(err as Error).message}`);
  }
  const bad = (key: string, why: string): never => {
    throw new MiroError(`${what} ${file}: ${key}: ${why}`);
  };
  const mapping = (v: unknown, key: string) =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : bad(key, 'expected a mapping');
  return { raw: mapping(raw, '(top level)'), bad, mapping };
}
