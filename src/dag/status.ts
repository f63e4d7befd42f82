// What `miro status` (and the browser's Run page) says about each node: shards committed, rows ok
// and failed, and its state: running (with its lock's owner), failed (with the error its last run
// left), up to date, pending (never run) or stale (and why).

import type { Pipeline } from './pipeline.js';
import { planPipeline } from './planner.js';
import { layoutOf } from '../store/layout.js';
import { heldLocks } from '../store/lock.js';
import { readFailures } from '../store/markers.js';

export interface NodeStatus {
  node: string;
  kind: string;
  shards_committed: number;
  shards: number;
  rows_ok: number;
  rows_failed: number;
  state: 'running' | 'failed' | 'up to date' | 'pending' | 'stale';
  why: string;
  damaged: string[];
}

/** `recorded`: from markers and manifests alone (PlanOptions.recorded), for pages that poll. */
export async function nodeStatuses(pipeline: Pipeline, opts: { verify?: boolean; recorded?: boolean } = {}): Promise<NodeStatus[]> {
  const plans = await planPipeline(pipeline, { verify: opts.verify ?? false, recorded: opts.recorded ?? false });
  const nodes: NodeStatus[] = [];
  for (const name of pipeline.order) {
    const p = plans.get(name)!;
    const spec = pipeline.nodes.get(name)!;
    const layout = layoutOf(pipeline, name);
    const current = [...p.markers.values()].filter((m) => m.fingerprint === p.fingerprint);
    const running = (await heldLocks(layout.lockDir())).filter((l) => l.alive !== false && /rank-/.test(l.file));
    // A failure of one rank and world is superseded once a later run (any rank or world) commits the
    // whole node: only a failure after the last commit (a failed check, say) still counts.
    const complete = p.todo.size === 0 && !p.prepare;
    const lastCommit = current.reduce((a, m) => (m.finished > a ? m.finished : a), '');
    const failures = (await readFailures(layout)).filter((f) => f.fingerprint === p.fingerprint && (!complete || f.at > lastCommit));
    const damaged = [...p.todo]
      .filter(([, why]) => /^(shard file|table \w+) (corrupted|missing)/.test(why))
      .map(([s, why]) => `shard ${s}: ${why}`);
    let state: NodeStatus['state'];
    let why: string;
    if (running.length) {
      state = 'running';
      why = running.map((l) => `${l.owner.what}: process ${l.owner.pid} on ${l.owner.host} since ${l.owner.since}`).join('; ');
    } else if (failures.length) {
      state = 'failed';
      why = failures.map((f) => `rank ${f.rank}/${f.world} at ${f.at}: ${f.error}`).join('; ');
    } else if (p.todo.size === 0 && !p.prepare) [state, why] = ['up to date', ''];
    else if (!p.manifest && p.markers.size === 0) [state, why] = ['pending', p.reason];
    else [state, why] = ['stale', p.reason];
    nodes.push({
      node: name,
      kind: spec.stage.kind,
      shards_committed: current.length,
      shards: spec.shards,
      rows_ok: current.reduce((a, m) => a + (m.stats.ok ?? 0), 0),
      rows_failed: current.reduce((a, m) => a + (m.stats.failed ?? 0), 0),
      state,
      why,
      damaged,
    });
  }
  return nodes;
}
