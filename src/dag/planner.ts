// What is stale and why. A node's fingerprint hashes its stage kind and version, its resolved
// parameters, the identity of external models or prompts, the settings it depends on and its
// inputs' fingerprints. A shard is up to date when its marker carries the node's fingerprint and
// the hash of the input markers it was computed from. Only markers are read, never Parquet.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Pipeline, NodeSpec } from './pipeline.js';
import { layoutOf, type NodeLayout } from '../store/layout.js';
import { readManifest, readMarkers, type NodeManifest, type ShardMarker } from '../store/markers.js';
import { canonicalJson, sha256, sha256File } from '../util/hash.js';
import { redactDeep } from '../util/fetch.js';
import { descendants } from './graph.js';

export interface FingerprintParts {
  kind: string;
  version: number;
  params: unknown;
  identity: unknown;
  settings: unknown;
  inputs: Record<string, string>;
}

export interface NodePlan {
  node: string;
  fingerprint: string;
  parts: FingerprintParts;
  manifest: NodeManifest | undefined;
  markers: Map<number, ShardMarker>;
  /** Shards that will run (all ranks), with the reason for each group. */
  todo: Map<number, string>;
  /** Shards whose failed rows will be re-processed (--retry-failed). */
  retry: number[];
  /** The node must (re)run prepare(): never prepared, or its fingerprint changed, or forced. */
  prepare: boolean;
  reason: string;
}

export interface PlanOptions {
  only?: string[];
  from?: string[];
  force?: string[];
  retryFailed?: string[];
  /**
   * Re-hash every committed shard file against its marker. Without it, only the size is
   * compared (one stat a shard), which catches truncation and most damage but not a flipped byte.
   */
  verify?: boolean;
  /**
   * Take each run node's fingerprint from its manifest instead of computing it: shards, markers,
   * damage and failures are current, but a changed parameter or input file does not show as stale.
   */
  recorded?: boolean;
}

/** Why one of a node's tables no longer matches its manifest (size always, sha256 with verify), or null. */
export async function tableDamage(layout: NodeLayout, manifest: NodeManifest, verify: boolean): Promise<string | null> {
  for (const [name, t] of Object.entries(manifest.tables ?? {})) {
    const file = path.join(layout.dir, t.file);
    const st = await fs.stat(file).catch(() => null);
    if (!st) return `table ${name} missing`;
    if (t.bytes === undefined) continue; // a manifest from before tables were hashed
    if (st.size !== t.bytes) return `table ${name} corrupted (${st.size} bytes, the manifest says ${t.bytes})`;
    if (verify && (await sha256File(file)) !== t.sha256) return `table ${name} corrupted (sha256 differs from the manifest)`;
  }
  return null;
}

/** Why a committed shard's file no longer matches its marker, or null when it does. */
export async function shardDamage(layout: NodeLayout, marker: ShardMarker, verify: boolean): Promise<string | null> {
  const file = layout.shardFile(marker.shard);
  const st = await fs.stat(file).catch(() => null);
  if (!st) return 'shard file missing';
  if (st.size !== marker.bytes) return `shard file corrupted (${st.size} bytes, its marker says ${marker.bytes})`;
  if (verify && (await sha256File(file)) !== marker.sha256) return 'shard file corrupted (sha256 differs from its marker)';
  return null;
}

/** Hash of the input markers a shard reads: shard i of each need, or all shards for global nodes. */
export function inputsHash(spec: NodeSpec, shard: number, markersOf: (node: string) => Map<number, ShardMarker>): string {
  const parts: string[] = [];
  for (const need of spec.needs) {
    const m = markersOf(need);
    if (spec.stage.mode === 'map') parts.push(`${need}/${shard}:${m.get(shard)?.sha256 ?? 'missing'}`);
    else for (const [s, mk] of [...m.entries()].sort((a, b) => a[0] - b[0])) parts.push(`${need}/${s}:${mk.sha256}`);
  }
  return sha256(parts.join('\n'));
}

function describeChange(old: FingerprintParts | undefined, now: FingerprintParts): string {
  if (!old) return 'fingerprint changed';
  const changes: string[] = [];
  if (old.kind !== now.kind || old.version !== now.version)
    changes.push(`stage code ${old.kind}@${old.version} -> ${now.kind}@${now.version}`);
  const a = (old.params ?? {}) as Record<string, unknown>;
  const b = now.params as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (canonicalJson(a[k]) !== canonicalJson(b[k])) changes.push(`with.${k} ${canonicalJson(a[k])} -> ${canonicalJson(b[k])}`);
  }
  if (canonicalJson(old.identity) !== canonicalJson(now.identity)) changes.push('model or prompt identity changed');
  if (canonicalJson(old.settings) !== canonicalJson(now.settings)) changes.push('pipeline settings changed');
  for (const [k, v] of Object.entries(now.inputs)) if (old.inputs?.[k] !== v) changes.push(`input ${k} changed`);
  return changes.length ? changes.join(', ') : 'fingerprint changed';
}

/** Whether an upstream node rewrites shard `shard` (or any shard) in this run. */
function willChange(up: NodePlan, shard: number | undefined): boolean {
  if (shard === undefined) return up.todo.size > 0 || up.retry.length > 0;
  return up.todo.has(shard) || up.retry.includes(shard);
}

export async function planPipeline(pipeline: Pipeline, opts: PlanOptions = {}): Promise<Map<string, NodePlan>> {
  const needsOf = (n: string) => pipeline.nodes.get(n)!.needs;
  const forced = descendants(pipeline.order, needsOf, opts.from ?? []);
  for (const f of opts.force ?? []) forced.add(f);
  const plans = new Map<string, NodePlan>();
  const pipelineDir = path.dirname(path.resolve(pipeline.file));

  for (const name of pipeline.order) {
    const spec = pipeline.nodes.get(name)!;
    const layout = layoutOf(pipeline, name);
    const settings =
      spec.stage.mode === 'source' ? { seed: pipeline.settings.seed, shards: spec.shards } : { seed: pipeline.settings.seed };
    const [manifest, markers] = await Promise.all([readManifest(layout), readMarkers(layout)]);
    // `recorded`: the fingerprint a node was last run under, so nothing is re-identified (ingest's
    // identity stats every file of its folder): what the explorer's Run page polls.
    const parts: FingerprintParts =
      opts.recorded && manifest
        ? (manifest.parts as FingerprintParts)
        : {
            kind: spec.stage.kind,
            version: spec.stage.version,
            // Credentials in URLs never reach a manifest (and do not change the fingerprint).
            params: redactDeep(spec.params),
            identity: (await spec.stage.identity?.(spec.params, pipelineDir)) ?? null,
            settings,
            inputs: Object.fromEntries(spec.needs.map((n) => [n, plans.get(n)!.fingerprint])),
          };
    const fingerprint = opts.recorded && manifest ? manifest.fingerprint : sha256(canonicalJson(parts)).slice(0, 32);
    const todo = new Map<number, string>();
    let prepare = false;
    let reason: string;

    const selected = !opts.only || opts.only.includes(name);
    if (!manifest) {
      prepare = true;
      reason = 'never run';
    } else if (manifest.fingerprint !== fingerprint) {
      prepare = true;
      reason = `stale: ${describeChange(manifest.parts as FingerprintParts | undefined, parts)}`;
    } else if (forced.has(name)) {
      prepare = true;
      reason = opts.force?.includes(name) ? 'forced (--force)' : 'forced (--from)';
    } else {
      // Node tables (the bins node's edges) are committed like shards: a damaged one re-runs the node.
      const broken = await tableDamage(layout, manifest, opts.verify ?? false);
      prepare = broken !== null;
      reason = broken ?? 'up to date';
    }

    // Committed shards whose files were damaged since: checked by size (or hash with verify) in parallel.
    const damage = new Map<number, string>();
    if (!prepare && manifest) {
      const checks = [...markers.values()]
        .filter((m) => m.fingerprint === fingerprint)
        .map(async (m) => {
          const why = await shardDamage(layout, m, opts.verify ?? false);
          if (why) damage.set(m.shard, why);
        });
      await Promise.all(checks);
    }
    for (let s = 0; s < spec.shards; s++) {
      const m = markers.get(s);
      if (prepare) todo.set(s, reason);
      else if (damage.has(s)) todo.set(s, damage.get(s)!);
      else if (!m) todo.set(s, 'shard not committed');
      else if (m.fingerprint !== fingerprint) todo.set(s, 'shard written under another fingerprint');
      else if (spec.needs.some((n) => willChange(plans.get(n)!, spec.stage.mode === 'map' ? s : undefined))) {
        todo.set(s, 'input will change in this run');
      } else if (m.inputs !== inputsHash(spec, s, (n) => plans.get(n)!.markers)) todo.set(s, 'input shards changed since commit');
    }
    if (todo.size > 0 && reason === 'up to date') reason = [...new Set(todo.values())].join('; ');

    const retry: number[] = [];
    if (opts.retryFailed?.includes(name)) {
      for (const [s, m] of markers) if ((m.stats.failed ?? 0) > 0 && !todo.has(s)) retry.push(s);
      if (retry.length) reason = `retrying failed rows in ${retry.length} shard(s)`;
    }
    if (!selected) {
      todo.clear();
      retry.length = 0;
      prepare = false;
      reason = `not selected (--only)`;
    }
    plans.set(name, { node: name, fingerprint, parts, manifest, markers, todo, retry, prepare, reason });
  }
  return plans;
}
