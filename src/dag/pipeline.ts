// Loads a pipeline YAML into a fully resolved, typed plan. Every error names the file, the
// line and the key path; code past this point never re-checks the configuration.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parse, parseDocument, isMap, isPair, isScalar, type Node as YamlNode } from 'yaml';
import { ConfigError } from '../errors.js';
import { parseShape, type Fail } from '../stages/params.js';
import type { ColumnRef, PipelineSettings, StageKind, Column } from '../stages/types.js';
import { stageKinds } from '../stages/registry.js';
import { topoOrder } from './graph.js';
import { settings } from '../util/settings.js';

export interface NodeSpec {
  name: string;
  stage: StageKind;
  params: Record<string, unknown>;
  needs: string[];
  /** Number of output shards: the source's own, a map node's first need's, or 1 for global nodes. */
  shards: number;
  /** Output columns including id (and status, error where rows can fail). */
  columns: Column[];
}

/**
 * The shards of the upstream node `up` that `spec` reads for one of its shards: the same shard for
 * a map stage, every shard for a global one, and every shard when it asks for the node as a whole.
 */
export function shardsRead(spec: NodeSpec, up: NodeSpec, shard?: number | null): number[] {
  return spec.stage.mode === 'map' && shard !== undefined && shard !== null ? [shard] : [...Array(up.shards).keys()];
}

export interface Pipeline {
  file: string;
  text: string;
  settings: PipelineSettings;
  nodes: Map<string, NodeSpec>;
  /** Node names in a topological order (stable: file order where free). */
  order: string[];
  /** The `--set` overrides it was loaded with (a child process loads it with the same). */
  overrides: string[];
}

const TOP_KEYS = ['name', 'description', 'settings', 'nodes'];
const SETTING_KEYS = ['data_root', 'seed', 'shards', 'rows_per_shard', 'report_dir'];
const NODE_KEYS = ['uses', 'needs', 'with', 'description'];

export interface LoadOptions {
  dataRoot?: string;
  /** `--set key.path=value` overrides, applied to the YAML before it is validated (values read as YAML). */
  set?: string[];
}

/** Applies `key.path=value` overrides to the parsed YAML; a numeric part indexes a list. */
function applyOverrides(raw: unknown, set: string[], file: string): unknown {
  if (typeof raw !== 'object' || raw === null) return raw; // not a mapping: the check after says so
  for (const o of set) {
    const eq = o.indexOf('=');
    const keys = eq > 0 ? o.slice(0, eq).split('.') : [];
    if (keys.length === 0 || keys.some((k) => k === '')) throw new ConfigError(file, undefined, '', `--set ${o}: expected key.path=value`);
    let at = raw as Record<string, unknown>;
    for (const [i, k] of keys.slice(0, -1).entries()) {
      if (at[k] === undefined) at[k] = {};
      if (typeof at[k] !== 'object' || at[k] === null)
        throw new ConfigError(
          file,
          undefined,
          keys.slice(0, i + 1).join('.'),
          `--set ${o}: not a mapping or list, cannot set a key inside it`,
        );
      at = at[k] as Record<string, unknown>;
    }
    at[keys.at(-1)!] = parse(o.slice(eq + 1));
  }
  return raw;
}

export function loadPipeline(file: string, opts: LoadOptions = {}): Pipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, undefined, '', `cannot read pipeline file (${(err as Error).message})`);
  }
  return parsePipeline(text, file, opts);
}

export function parsePipeline(text: string, file: string, opts: LoadOptions = {}): Pipeline {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new ConfigError(file, e.linePos?.[0]?.line, '', `invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const lineOf = (keyPath: string): number | undefined => {
    const node = findNode(doc.contents, keyPath.split('.').flatMap(splitIndex));
    return node?.range ? lines.linePos(node.range[0]).line : undefined;
  };
  const fail: Fail = (keyPath, problem) => {
    throw new ConfigError(file, lineOf(keyPath), keyPath, problem);
  };

  const raw = applyOverrides(doc.toJS() as unknown, opts.set ?? [], file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('', 'a pipeline is a mapping with `nodes:`');
  const top = raw as Record<string, unknown>;
  for (const k of Object.keys(top)) if (!TOP_KEYS.includes(k)) fail(k, `unknown top-level key (known: ${TOP_KEYS.join(', ')})`);

  const name = top.name ?? path.basename(file).replace(/\.ya?ml$/, '');
  // The name is a folder under the data root: no dots or separators, so it cannot climb out of it.
  if (typeof name !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(name))
    fail('name', `must be a plain name (letters, digits, _ and -, not starting with -), got ${JSON.stringify(name)}`);
  const settings = parseSettings(top.settings, name as string, file, fail, opts);

  const rawNodes = top.nodes;
  if (typeof rawNodes !== 'object' || rawNodes === null || Array.isArray(rawNodes))
    fail('nodes', 'expected a mapping of node name to node');
  const names = Object.keys(rawNodes as object);
  if (names.length === 0) fail('nodes', 'a pipeline needs at least one node');

  const partial = new Map<string, { stage: StageKind; params: Record<string, unknown>; needs: string[] }>();
  for (const nodeName of names) {
    const at = `nodes.${nodeName}`;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(nodeName)) fail(at, 'node names are identifiers (letters, digits, _), so they can be SQL views');
    const n = (rawNodes as Record<string, unknown>)[nodeName];
    if (typeof n !== 'object' || n === null || Array.isArray(n)) fail(at, 'expected a mapping with `uses:`');
    const node = n as Record<string, unknown>;
    for (const k of Object.keys(node)) if (!NODE_KEYS.includes(k)) fail(`${at}.${k}`, `unknown node key (known: ${NODE_KEYS.join(', ')})`);
    const uses = node.uses;
    if (typeof uses !== 'string') fail(`${at}.uses`, 'missing stage kind');
    const stage = stageKinds.get(uses as string);
    if (!stage) fail(`${at}.uses`, `unknown stage kind "${uses}" (known: ${[...stageKinds.keys()].sort().join(', ')})`);
    const needs = node.needs ?? [];
    if (!Array.isArray(needs) || needs.some((x) => typeof x !== 'string')) fail(`${at}.needs`, 'expected a list of node names');
    for (const [i, need] of (needs as string[]).entries()) {
      if (!names.includes(need)) fail(`${at}.needs[${i}]`, `unknown node "${need}" (nodes: ${names.join(', ')})`);
    }
    const { min, max } = stage!.needs;
    const count = (needs as string[]).length;
    if (count < min || (max !== undefined && count > max)) {
      fail(`${at}.needs`, `stage kind ${uses} takes ${max === min ? min : `${min} to ${max ?? 'any number of'}`} inputs, got ${count}`);
    }
    const params = parseShape(stage!.params, node.with, `${at}.with`, fail);
    const problem = stage!.validate?.(params, needs as string[]);
    if (problem) fail(`${at}.with`, problem);
    partial.set(nodeName, { stage: stage!, params, needs: needs as string[] });
  }

  const order = topoOrder(
    names,
    (n) => partial.get(n)!.needs,
    (cycle) => fail(`nodes.${cycle[0]}.needs`, `dependency cycle: ${cycle.join(' -> ')}`),
  );

  const nodes = new Map<string, NodeSpec>();
  for (const nodeName of order) {
    const { stage, params, needs } = partial.get(nodeName)!;
    const at = `nodes.${nodeName}`;
    let shards = 1;
    if (stage.mode === 'source') shards = stage.sourceShards?.(params, settings) ?? settings.shards;
    if (stage.mode === 'map') shards = nodes.get(needs[0]!)!.shards;
    for (const need of needs.slice(1)) {
      if (stage.mode === 'map' && nodes.get(need)!.shards !== shards) {
        fail(`${at}.needs`, `map inputs must have the same shard count: ${needs[0]} has ${shards}, ${need} has ${nodes.get(need)!.shards}`);
      }
    }
    for (const ref of stage.reads?.(params) ?? []) checkRef(ref, nodeName, needs, nodes, fail);
    const columns: Column[] = [{ name: 'id', type: 'VARCHAR' }, ...stage.columns(params)];
    if (stage.rowsCanFail) columns.push({ name: 'status', type: 'VARCHAR' }, { name: 'error', type: 'VARCHAR' });
    nodes.set(nodeName, { name: nodeName, stage, params, needs, shards, columns });
  }
  return { file, text, settings, nodes, order, overrides: opts.set ?? [] };
}

function checkRef(ref: ColumnRef, nodeName: string, needs: string[], nodes: Map<string, NodeSpec>, fail: Fail): void {
  const at = `nodes.${nodeName}.with`;
  if (!needs.includes(ref.node))
    fail(at, `reads ${ref.node}.${ref.column}, but ${ref.node} is not in needs (${needs.join(', ') || 'none'})`);
  const upstream = nodes.get(ref.node)!;
  if (!upstream.columns.some((c) => c.name === ref.column)) {
    fail(at, `node ${ref.node} has no column "${ref.column}" (has: ${upstream.columns.map((c) => c.name).join(', ')})`);
  }
}

function parseSettings(raw: unknown, name: string, file: string, fail: Fail, opts: LoadOptions): PipelineSettings {
  const s = (raw ?? {}) as Record<string, unknown>;
  if (typeof s !== 'object' || Array.isArray(s)) fail('settings', 'expected a mapping');
  for (const k of Object.keys(s))
    if (!SETTING_KEYS.includes(k)) fail(`settings.${k}`, `unknown setting (known: ${SETTING_KEYS.join(', ')})`);
  const seed = s.seed ?? 42;
  if (!Number.isInteger(seed)) fail('settings.seed', `expected an integer, got ${JSON.stringify(seed)}`);
  const shards = s.shards ?? 4;
  if (!Number.isInteger(shards) || (shards as number) < 1 || (shards as number) > 99999)
    fail('settings.shards', 'expected an integer from 1 to 99999');
  const rowsPerShard = s.rows_per_shard ?? null;
  if (rowsPerShard !== null && (!Number.isInteger(rowsPerShard) || (rowsPerShard as number) < 1))
    fail('settings.rows_per_shard', 'expected a positive integer (rows per shard of a source that knows its count)');
  const dataRoot = opts.dataRoot ?? settings().dataRoot ?? (s.data_root as string | undefined) ?? 'data';
  if (typeof dataRoot !== 'string') fail('settings.data_root', 'expected a path');
  const unsafe = unsafeDataRoot(path.resolve(dataRoot));
  if (unsafe) fail('settings.data_root', unsafe);
  const reportDir = (s.report_dir as string | undefined) ?? path.join(dataRoot, name, '_report');
  return {
    name,
    file,
    seed: seed as number,
    shards: shards as number,
    rowsPerShard: rowsPerShard as number | null,
    dataRoot: path.resolve(dataRoot),
    reportDir: path.resolve(reportDir),
  };
}

function splitIndex(segment: string): (string | number)[] {
  const m = /^([^[]*)((?:\[\d+\])*)$/.exec(segment);
  if (!m) return [segment];
  const idx = [...m[2]!.matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]));
  return [...(m[1] ? [m[1]] : []), ...idx];
}

/** Finds the YAML node for a key path: the key itself where it exists, else the deepest parent. */
function findNode(root: unknown, keys: (string | number)[]): YamlNode | undefined {
  let node = root as YamlNode | undefined;
  let found = node;
  for (const key of keys) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(key));
      if (!pair) return found;
      found = pair.key as YamlNode;
      node = pair.value as YamlNode | undefined;
    } else if (node && 'items' in node && Array.isArray((node as { items: unknown[] }).items) && typeof key === 'number') {
      const item = (node as { items: YamlNode[] }).items[key];
      if (!item) return found;
      found = item;
      node = item;
    } else return found;
  }
  return found;
}

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Why a data root would let the tool write over things it does not own: `/`, the project, or a folder above it. */
export function unsafeDataRoot(dir: string): string | null {
  if (dir === path.parse(dir).root) return `${dir} is a file-system root; outputs need a folder of their own`;
  if (PROJECT_ROOT === dir || PROJECT_ROOT.startsWith(dir + path.sep))
    return `${dir} holds the project itself (${PROJECT_ROOT}); use a folder inside it, such as data/`;
  return null;
}
