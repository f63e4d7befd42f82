// Option values, validated as commander parses them: a bad value is a usage error that names the
// option and what it expects (exit 2), never a silent default.

import { InvalidArgumentError } from 'commander';

export function int(opts: { min?: number; max?: number } = {}): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
    if (opts.min !== undefined && n < opts.min) throw new InvalidArgumentError(`expected an integer >= ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) throw new InvalidArgumentError(`expected an integer <= ${opts.max}, got ${n}`);
    return n;
  };
}

export function number(opts: { min?: number; max?: number } = {}): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
    if (opts.min !== undefined && n < opts.min) throw new InvalidArgumentError(`expected a number >= ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) throw new InvalidArgumentError(`expected a number <= ${opts.max}, got ${n}`);
    return n;
  };
}

/** A repeatable string option: each use adds one value. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
