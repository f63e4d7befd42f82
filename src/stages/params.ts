// Parameter schemas for a stage kind's `with:` block. Validation happens once, when the
// pipeline is loaded; stages receive plain, fully defaulted values.

/** A reference to an upstream column, written `node.column` in the YAML. */
export interface ColumnRef {
  node: string;
  column: string;
}

export type Fail = (keyPath: string, problem: string) => never;

export interface Field<T> {
  readonly doc: string;
  readonly type: string;
  readonly hasDefault: boolean;
  parse(value: unknown, keyPath: string, fail: Fail): T;
}

export type Shape = Record<string, Field<unknown>>;
export type ParamsOf<S extends Shape> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

interface Opts<T> {
  doc: string;
  default?: T;
}

function field<T>(type: string, opts: Opts<T>, check: (v: unknown, keyPath: string, fail: Fail) => T): Field<T> {
  return {
    doc: opts.doc,
    type,
    hasDefault: opts.default !== undefined,
    parse(value, keyPath, fail) {
      if (value === undefined || value === null) {
        if (opts.default !== undefined) return structuredClone(opts.default);
        return fail(keyPath, `required ${type} is missing`);
      }
      return check(value, keyPath, fail);
    },
  };
}

function numberField(type: 'int' | 'number', opts: Opts<number> & { min?: number; max?: number }): Field<number> {
  return field(type, opts, (v, k, fail) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(k, `expected ${type}, got ${JSON.stringify(v)}`);
    if (type === 'int' && !Number.isInteger(v)) return fail(k, `expected an integer, got ${v}`);
    if (opts.min !== undefined && v < opts.min) return fail(k, `must be >= ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) return fail(k, `must be <= ${opts.max}, got ${v}`);
    return v;
  });
}

export const p = {
  int: (opts: Opts<number> & { min?: number; max?: number }) => numberField('int', opts),
  number: (opts: Opts<number> & { min?: number; max?: number }) => numberField('number', opts),
  string: (opts: Opts<string>) =>
    field('string', opts, (v, k, fail) => (typeof v === 'string' ? v : fail(k, `expected string, got ${JSON.stringify(v)}`))),
  bool: (opts: Opts<boolean>) =>
    field('bool', opts, (v, k, fail) => (typeof v === 'boolean' ? v : fail(k, `expected true or false, got ${JSON.stringify(v)}`))),
  enum: <E extends string>(values: readonly E[], opts: Opts<E>) =>
    field<E>(`one of ${values.join('|')}`, opts, (v, k, fail) =>
      values.includes(v as E) ? (v as E) : fail(k, `expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`),
    ),
  list: <T>(item: Field<T>, opts: Opts<T[]> & { minItems?: number }) =>
    field<T[]>(`list of ${item.type}`, opts, (v, k, fail) => {
      if (!Array.isArray(v)) return fail(k, `expected a list, got ${JSON.stringify(v)}`);
      if (opts.minItems !== undefined && v.length < opts.minItems) return fail(k, `needs at least ${opts.minItems} items`);
      return v.map((x, i) => item.parse(x, `${k}[${i}]`, fail));
    }),
  /** A map of string to a value type, e.g. per-reward targets. */
  record: <T>(item: Field<T>, opts: Opts<Record<string, T>>) =>
    field<Record<string, T>>(`map of ${item.type}`, opts, (v, k, fail) => {
      if (typeof v !== 'object' || Array.isArray(v)) return fail(k, `expected a mapping, got ${JSON.stringify(v)}`);
      const out: Record<string, T> = {};
      for (const [key, x] of Object.entries(v as object)) out[key] = item.parse(x, `${k}.${key}`, fail);
      return out;
    }),
  /** An upstream column, written `node.column`; checked against the node's needs and schema. */
  column: (opts: Opts<ColumnRef>) => field<ColumnRef>('node.column', opts, parseColumnRef),
  /** Like column, but may be left out (null). */
  optionalColumn: (opts: { doc: string }) => field<ColumnRef | null>('node.column', { ...opts, default: null }, parseColumnRef),
  object: <S extends Shape>(shape: S, opts: Opts<ParamsOf<S>>) =>
    field<ParamsOf<S>>('mapping', opts, (v, k, fail) => parseShape(shape, v, k, fail)),
};

function parseColumnRef(v: unknown, k: string, fail: Fail): ColumnRef {
  const m = typeof v === 'string' ? /^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(v) : null;
  return m ? { node: m[1]!, column: m[2]! } : fail(k, `expected node.column, got ${JSON.stringify(v)}`);
}

/** Parses a `with:` block against a shape; unknown keys are errors. */
export function parseShape<S extends Shape>(shape: S, value: unknown, keyPath: string, fail: Fail): ParamsOf<S> {
  const given = value ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) return fail(keyPath, `expected a mapping, got ${JSON.stringify(value)}`);
  for (const key of Object.keys(given)) {
    if (!(key in shape)) {
      const known = Object.keys(shape).join(', ') || '(none)';
      fail(`${keyPath}.${key}`, `unknown parameter "${key}" (known: ${known})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(shape)) out[key] = f.parse((given as Record<string, unknown>)[key], `${keyPath}.${key}`, fail);
  return out as ParamsOf<S>;
}
