// Runs a planned pipeline: nodes in dependency order, independent nodes concurrently (p-limit),
// each node's shards for this rank (shard % world == rank). A shard is committed by writing its
// Parquet file durably and then its marker; a crash anywhere leaves a whole shard or none.
// Over 300 lines because one node's whole life is here in order (locks, prepare, waiting for
// other ranks, shards, retries, checks), so the commit protocol can be read in one place.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { shardsRead, type Pipeline, type NodeSpec } from './pipeline.js';
import { layoutOf, shardName } from '../store/layout.js';
import { planPipeline, inputsHash, shardDamage, type NodePlan } from './planner.js';
import { runChecks } from './checks.js';
import { connect, duckThreads, queryBatches, queryRows, writeParquet, writeParquetQuery, sqlString } from '../store/duck.js';
import {
  clearFailure,
  writeFailure,
  readManifest,
  readMarker,
  readMarkers,
  removeShard,
  writeManifest,
  writeMarker,
  type NodeManifest,
  type ShardMarker,
  type TableRecord,
} from '../store/markers.js';
import { DEFAULT_LEASE_MS, FileLock, heldLocks } from '../store/lock.js';
import { writeFileAtomic } from '../store/atomic.js';
import { StageError, MiroError, RowError, errorMessage } from '../errors.js';
import { Stats } from '../util/stats.js';
import { Progress, type ProgressSink } from '../util/progress.js';
import { runInChild } from './child.js';
import { nodeContext } from './context.js';
import { concat, countRows } from './batches.js';
import { FALLBACK_SIGNAL, type Batch, type ShardContext, type ShardQuery, type Value } from '../stages/types.js';

export type { RunOptions } from './run-options.js';
import type { RunOptions } from './run-options.js';

export type { NodeOutcome } from './outcome.js';
import type { NodeOutcome } from './outcome.js';

export class RunFailed extends MiroError {
  override name = 'RunFailed';
  constructor(readonly outcomes: NodeOutcome[]) {
    const failed = outcomes.filter((o) => o.status === 'failed');
    super(`${failed.length} node(s) failed:\n${failed.map((o) => `  ${o.node}: ${errorMessage(o.error)}`).join('\n')}`);
  }
}

/**
 * A pipeline's data folder belongs to the file that first ran into it: a second YAML with the same
 * `name` (a copy edited for an experiment, say) would silently replace its data, so it is refused
 * unless forced (which hands the folder to the new file).
 */
async function claimPipelineName(pipeline: Pipeline, force: boolean): Promise<void> {
  const claim = path.join(pipeline.settings.dataRoot, pipeline.settings.name, '_pipeline.json');
  const file = path.resolve(pipeline.file);
  const owner = await fs
    .readFile(claim, 'utf8')
    .then((t) => (JSON.parse(t) as { file?: string }).file)
    .catch(() => undefined);
  if (owner === file) return;
  if (owner && !force && (await fs.stat(owner).catch(() => null)))
    throw new MiroError(
      `pipeline name "${pipeline.settings.name}" is used by ${owner} (its data: ${path.dirname(claim)}); rename this pipeline, or pass --force-name to hand the data to ${pipeline.file}`,
    );
  await fs.mkdir(path.dirname(claim), { recursive: true });
  await writeFileAtomic(claim, JSON.stringify({ file }, null, 1));
}

export async function runPipeline(
  pipeline: Pipeline,
  opts: RunOptions = {},
): Promise<{ plans: Map<string, NodePlan>; outcomes: NodeOutcome[] }> {
  const rank = opts.rank ?? 0;
  const world = opts.world ?? 1;
  if (rank < 0 || rank >= world) throw new MiroError(`--rank ${rank} is outside --world ${world}`);
  const progress = opts.progress ?? new Progress();
  const plans = await planPipeline(pipeline, opts);
  const mine = (s: number) => s % world === rank;

  if (opts.dryRun) return { plans, outcomes: [] };
  await claimPipelineName(pipeline, opts.forceName ?? false);

  const limit = pLimit(opts.jobs ?? 2);
  const done = new Map<string, Promise<NodeOutcome>>();
  for (const name of pipeline.order) {
    const spec = pipeline.nodes.get(name)!;
    const plan = plans.get(name)!;
    done.set(
      name,
      Promise.all(spec.needs.map((n) => done.get(n)!)).then(async (ups) => {
        const blocked = ups.find((u) => u.status === 'failed' || u.status === 'blocked');
        if (blocked)
          return { node: name, status: 'blocked', reason: `needs ${blocked.node}, which did not finish`, shardsRun: 0 } as NodeOutcome;
        const env = {
          rank,
          world,
          mine,
          progress,
          waitTimeoutMs: opts.waitTimeoutMs ?? 6 * 3600e3,
          leaseMs: opts.lockLeaseMs ?? DEFAULT_LEASE_MS,
        };
        const inChild = spec.stage.ownProcess && (opts.jobs ?? 2) > 1 && !opts.inChild && plan.todo.size + plan.retry.length > 0;
        return limit(() => (inChild ? runInChild(pipeline, spec, plan, env, opts) : new NodeRun(pipeline, spec, plan, plans, env).run()));
      }),
    );
  }
  const outcomes = await Promise.all(pipeline.order.map((n) => done.get(n)!));
  if (outcomes.some((o) => o.status === 'failed')) throw new RunFailed(outcomes);
  return { plans, outcomes };
}

interface RunEnv {
  rank: number;
  world: number;
  mine: (shard: number) => boolean;
  progress: ProgressSink;
  waitTimeoutMs: number;
  leaseMs: number;
}

class NodeRun {
  private readonly layout;
  /** Set once a shard's query asked for its fallback: later shards go straight to theirs. */
  private useFallback = false;
  constructor(
    private readonly pipeline: Pipeline,
    private readonly spec: NodeSpec,
    private readonly plan: NodePlan,
    private readonly plans: Map<string, NodePlan>,
    private readonly env: RunEnv,
  ) {
    this.layout = layoutOf(pipeline, spec.name);
  }

  async run(): Promise<NodeOutcome> {
    const { spec, plan, env } = this;
    const todo = [...plan.todo.keys()].filter(env.mine);
    const retry = plan.retry.filter(env.mine);
    try {
      if (!plan.prepare && todo.length === 0 && retry.length === 0) {
        await this.checkIfComplete(plan.markers);
        return { node: spec.name, status: 'skipped', reason: plan.reason, shardsRun: 0 };
      }
      env.progress.log(`[${spec.name}] ${plan.reason}: ${todo.length + retry.length} shard(s) on rank ${env.rank}/${env.world}`);
      const lock = await FileLock.acquire(
        path.join(this.layout.lockDir(), `rank-${env.rank}-of-${env.world}`),
        `node ${spec.name} (rank ${env.rank} of ${env.world})`,
        { onWait: (m) => env.progress.log(`[${spec.name}] ${m}`), leaseMs: env.leaseMs },
      );
      try {
        const manifest = await this.prepareOnce();
        env.progress.nodeStart(spec.name, todo.length + retry.length);
        let n = 0;
        // After a failure no new shard starts, and the ones in flight finish before the lock goes.
        let failed = false;
        const atOnce = pLimit(spec.stage.concurrentShards ? duckThreads() : 1);
        const results = await Promise.allSettled(
          todo.map((shard) =>
            atOnce(async () => {
              if (failed) return;
              try {
                await this.waitForInputs(shard);
                // Runs with other world sizes may hold the same shard: one writer per shard, and a
                // shard someone committed since this run planned is not written again.
                const shardLock = await FileLock.acquire(
                  path.join(this.layout.lockDir(), `shard-${shardName(shard)}`),
                  `shard ${shard} of node ${spec.name}`,
                  { onWait: (m) => env.progress.log(`[${spec.name}] ${m}`), leaseMs: env.leaseMs },
                );
                try {
                  const marker = (await this.committedNow(shard)) ?? (await this.runShard(shard, manifest, null));
                  env.progress.shardDone(spec.name, ++n, todo.length + retry.length, marker.rows);
                } finally {
                  await shardLock.release();
                }
              } catch (err) {
                failed = true;
                throw err;
              }
            }),
          ),
        );
        const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failure) throw failure.reason;
        for (const shard of retry) {
          // Retries take the shard's lock like first runs (waiting for another retry of it), and a
          // shard whose failed rows another run redid meanwhile is not paid for twice.
          const shardLock = await FileLock.acquire(
            path.join(this.layout.lockDir(), `shard-${shardName(shard)}`),
            `shard ${shard} of node ${spec.name}`,
            {
              waitMs: env.waitTimeoutMs,
              onWait: (m) => env.progress.log(`[${spec.name}] ${m}`),
              leaseMs: env.leaseMs,
            },
          );
          try {
            const now = await readMarker(this.layout, shard);
            const marker = now && (now.stats.failed ?? 0) === 0 ? now : await this.retryShard(shard, manifest);
            env.progress.shardDone(spec.name, ++n, todo.length + retry.length, marker.rows);
          } finally {
            await shardLock.release();
          }
        }
        // A single rank is the node's only writer: index its markers now, so re-runs read one file.
        if (env.world === 1) await readMarkers(this.layout, { indexNow: true });
      } finally {
        await lock.release();
      }
      await this.checkIfComplete();
      await clearFailure(this.layout, env.rank, env.world);
      return { node: spec.name, status: 'ran', reason: plan.reason, shardsRun: todo.length + retry.length };
    } catch (err) {
      env.progress.log(`[${spec.name}] FAILED: ${errorMessage(err)}`);
      // Kept for `miro status` until this rank runs the node through; a full disk may refuse it too.
      await writeFailure(this.layout, {
        node: spec.name,
        fingerprint: plan.fingerprint,
        rank: env.rank,
        world: env.world,
        error: errorMessage(err),
        at: new Date().toISOString(),
      }).catch(() => undefined);
      return { node: spec.name, status: 'failed', reason: plan.reason, shardsRun: 0, error: err as Error };
    }
  }

  /** Runs prepare() once per fingerprint, under a lock shared by all ranks. */
  private async prepareOnce(): Promise<NodeManifest> {
    const lock = await FileLock.acquire(path.join(this.layout.lockDir(), 'prepare'), `prepare of node ${this.spec.name}`, {
      waitMs: this.env.waitTimeoutMs,
      leaseMs: this.env.leaseMs,
      onWait: (m) => this.env.progress.log(`[${this.spec.name}] ${m}`),
    });
    try {
      const current = await readManifest(this.layout);
      // Forced re-prepare applies only if no other rank re-prepared since this run planned.
      const forced =
        this.plan.prepare && current?.fingerprint === this.plan.fingerprint && this.plan.manifest?.written === current?.written;
      if (current && current.fingerprint === this.plan.fingerprint && !forced) return current;
      if (current) await this.wipe();
      await this.waitForInputs(undefined);
      const tables: Record<string, TableRecord> = {};
      const conn = await connect();
      try {
        const ctx = nodeContext(this.pipeline, this.spec, this.layout, this.env.progress, conn, tables, null, null);
        const state = (await this.spec.stage.prepare?.(ctx)) ?? null;
        const manifest: NodeManifest = {
          node: this.spec.name,
          kind: this.spec.stage.kind,
          fingerprint: this.plan.fingerprint,
          parts: this.plan.parts,
          shards: this.spec.shards,
          state,
          tables,
          written: new Date().toISOString(),
        };
        await writeManifest(this.layout, manifest);
        return manifest;
      } finally {
        conn.closeSync();
      }
    } finally {
      await lock.release();
    }
  }

  /**
   * Clears what this node wrote, and only that: committed shards, shard files and their `.tmp`
   * leftovers, the manifest, its tables and checks, and the folders the stage declares as outputs.
   * A file someone put in the node's folder stays. The request cache outlives fingerprints: its
   * keys already name model, prompt and parameters.
   */
  private async wipe(): Promise<void> {
    const manifest = await readManifest(this.layout).catch(() => undefined);
    for (const s of (await readMarkers(this.layout)).keys()) await removeShard(this.layout, s);
    const owned = new Set(['_checks.json', ...(this.spec.stage.outputs ?? [])]);
    for (const t of Object.values(manifest?.tables ?? {})) owned.add(t.file.split(/[\\/]/)[0]!);
    for (const entry of await fs.readdir(this.layout.dir).catch(() => [] as string[])) {
      // Its own part numbers only, and its own temporary names (a part's `.tmp` of any number, from
      // an earlier shard count too, and an atomic write's `_name.json.tmp-PID`): a user's
      // `notes.tmp`, `mydir.tmp` or a finished `part-00042.parquet` past its shards stays.
      const part = /^part-(\d+)\.parquet(\.tmp)?$/.exec(entry);
      const mine = part ? part[2] !== undefined || Number(part[1]) < this.spec.shards : /^_[a-z_]+\.json\.tmp-\d+$/.test(entry);
      if (owned.has(entry) || mine) await fs.rm(path.join(this.layout.dir, entry), { recursive: true, force: true });
    }
    await fs.rm(this.layout.manifestFile(), { force: true });
  }

  /** Markers of a need that one shard reads: shard i for map nodes, all shards otherwise. */
  private async upstreamMarkers(need: string, shard: number | undefined): Promise<Map<number, ShardMarker>> {
    const layout = layoutOf(this.pipeline, need);
    if (this.spec.stage.mode !== 'map' || shard === undefined) return readMarkers(layout);
    const m = await readMarker(layout, shard);
    return new Map(m ? [[shard, m]] : []);
  }

  /** Upstream shards this shard (or the whole node) still waits for, per need. */
  private async missingInputs(shard: number | undefined): Promise<{ need: string; shards: number[] }[]> {
    const out: { need: string; shards: number[] }[] = [];
    for (const need of this.spec.needs) {
      const upSpec = this.pipeline.nodes.get(need)!;
      const fp = this.plans.get(need)!.fingerprint;
      const markers = await this.upstreamMarkers(need, shard);
      const missing = shardsRead(this.spec, upSpec, shard).filter((s) => markers.get(s)?.fingerprint !== fp);
      if (missing.length) out.push({ need, shards: missing });
    }
    return out;
  }

  private async inputsReady(shard: number | undefined): Promise<string | undefined> {
    const [first] = await this.missingInputs(shard);
    if (!first) return undefined;
    const { need, shards } = first;
    return `${need} shard(s) ${shards.slice(0, 5).join(', ')}${shards.length > 5 ? '…' : ''} not committed`;
  }

  /**
   * An upstream shard that no live lock has held for a whole lease (its rank died, or never
   * started): this rank runs it. Its owner, should it start later, finds it committed.
   */
  private async takeOverOrphans(shard: number | undefined, orphanSince: Map<string, number>): Promise<void> {
    for (const { need, shards } of await this.missingInputs(shard)) {
      const layout = layoutOf(this.pipeline, need);
      // Live: its process runs here, or (another host) its heartbeat is within the holder's lease.
      const locks = await heldLocks(layout.lockDir());
      const beats = await Promise.all(
        locks.map((l) =>
          fs.stat(l.file).then(
            (st) => st.mtimeMs,
            () => 0,
          ),
        ),
      );
      const live = (name: string) =>
        locks.some(
          (l, i) => path.basename(l.file) === name && (l.alive ?? Date.now() - beats[i]! <= (l.owner.lease_ms ?? this.env.leaseMs)),
        );
      for (const s of shards) {
        const key = `${need}:${s}`;
        const owner = `rank-${s % this.env.world}-of-${this.env.world}`;
        if (live(owner) || live(`shard-${shardName(s)}`)) {
          orphanSince.delete(key);
          continue;
        }
        const since = orphanSince.get(key) ?? Date.now();
        orphanSince.set(key, since);
        if (Date.now() - since < this.env.leaseMs) continue;
        this.env.progress.log(
          `[${this.spec.name}] ${need} shard ${s} has had no live lock for ${Math.round((Date.now() - since) / 1000)} s (its rank ${s % this.env.world} is gone or never started): running it on rank ${this.env.rank}`,
        );
        const upSpec = this.pipeline.nodes.get(need)!;
        const outcome = await new NodeRun(this.pipeline, upSpec, this.plans.get(need)!, this.plans, {
          ...this.env,
          mine: (x) => x === s,
        }).run();
        if (outcome.status === 'failed')
          throw new StageError(this.spec.name, shard, `taking over ${need} shard ${s} failed: ${outcome.reason}`);
        orphanSince.delete(key);
      }
    }
  }

  /** The shard's marker, if it is committed under this fingerprint from the inputs there are now. */
  private async committedNow(shard: number): Promise<ShardMarker | null> {
    const marker = await readMarker(this.layout, shard);
    if (!marker || marker.fingerprint !== this.plan.fingerprint) return null;
    if (await shardDamage(this.layout, marker, true)) return null;
    const upstream = new Map<string, Map<number, ShardMarker>>();
    for (const need of this.spec.needs) upstream.set(need, await this.upstreamMarkers(need, shard));
    return marker.inputs === inputsHash(this.spec, shard, (n) => upstream.get(n)!) ? marker : null;
  }

  /** With several ranks, input shards may still be in flight elsewhere: poll for their markers. */
  private async waitForInputs(shard: number | undefined): Promise<void> {
    const start = Date.now();
    const deadline = start + this.env.waitTimeoutMs;
    let lastSaid = -Infinity;
    const orphanSince = new Map<string, number>();
    for (;;) {
      const missing = await this.inputsReady(shard);
      if (!missing) return;
      if (this.env.world > 1) {
        await this.takeOverOrphans(shard, orphanSince);
        if (!(await this.inputsReady(shard))) return;
      }
      if (this.env.world === 1 || Date.now() > deadline)
        throw new StageError(
          this.spec.name,
          shard,
          `inputs incomplete: ${missing}${this.env.world > 1 ? ` (waited ${Math.round((Date.now() - start) / 1000)} s; --wait-timeout)` : ''}`,
        );
      // What is still missing, when the wait starts and every 30 s after, with the time left.
      if (Date.now() - lastSaid >= 30_000) {
        lastSaid = Date.now();
        this.env.progress.log(
          `[${this.spec.name}] waiting for other ranks (${Math.round((Date.now() - start) / 1000)} s, ${Math.round((deadline - Date.now()) / 1000)} s left): ${missing}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async runShard(
    shard: number,
    manifest: NodeManifest,
    retry: { rows: Record<string, Value>[]; ids: string[] } | null,
    prefix?: AsyncIterable<Batch>,
  ): Promise<ShardMarker> {
    const { spec } = this;
    const started = new Date().toISOString();
    await removeShard(this.layout, shard).catch(() => undefined);
    const conn = await connect();
    try {
      const stats = new Stats();
      const base = nodeContext(this.pipeline, this.spec, this.layout, this.env.progress, conn, manifest.tables, shard, retry?.ids ?? null);
      const ctx: ShardContext<Record<string, unknown>> = {
        ...base,
        shard,
        shards: spec.shards,
        state: manifest.state,
        retry: retry ? { rows: retry.rows } : null,
        stats,
        progress: (rows, total, detail) => this.env.progress.rows(spec.name, rows, total, detail),
      };
      let written;
      if (spec.stage.query && !prefix) {
        const q = await spec.stage.query(ctx);
        written = await this.writeShardQuery(typeof q === 'string' ? { sql: q } : q, shard);
        stats.merge(written.stats);
      } else {
        if (!spec.stage.run) throw new StageError(spec.name, shard, `stage kind ${spec.stage.kind} has neither run() nor query()`);
        const rows = prefix ? concat(prefix, spec.stage.run(ctx)) : spec.stage.run(ctx);
        written = await writeParquet(spec.columns, countRows(spec, shard, rows, stats), this.layout.shardFile(shard), {
          context: `node ${spec.name}, shard ${shard}`,
        });
      }
      const upstream = new Map<string, Map<number, ShardMarker>>();
      for (const need of spec.needs) upstream.set(need, await this.upstreamMarkers(need, shard));
      const marker: ShardMarker = {
        shard,
        rows: written.rows,
        bytes: written.bytes,
        sha256: written.sha256,
        fingerprint: this.plan.fingerprint,
        inputs: inputsHash(spec, shard, (n) => upstream.get(n)!),
        stats: stats.counts,
        rank: this.env.rank,
        world: this.env.world,
        started,
        finished: new Date().toISOString(),
      };
      await writeMarker(this.layout, marker);
      return marker;
    } catch (err) {
      if (err instanceof MiroError && !(err instanceof RowError)) throw err; // a row's error here names no node or shard: wrap it
      throw new StageError(spec.name, shard, errorMessage(err), { cause: err });
    } finally {
      conn.closeSync();
    }
  }

  /**
   * Writes a shard's query; one that signals for its fallback (FALLBACK_SIGNAL) is replaced by it,
   * and so are the node's later shards' (their inputs are cut the same way).
   */
  private async writeShardQuery(q: ShardQuery, shard: number): ReturnType<typeof writeParquetQuery> {
    const file = this.layout.shardFile(shard);
    if (this.useFallback && q.fallback) return this.writeShardQuery(q.fallback, shard);
    try {
      return await writeParquetQuery(q.sql, file, { orderedById: q.orderedById, context: `node ${this.spec.name}, shard ${shard}` });
    } catch (err) {
      const message = errorMessage(err);
      if (!q.fallback || !message.includes(FALLBACK_SIGNAL)) throw err;
      this.useFallback = true;
      this.env.progress.log(
        `[${this.spec.name}] shard ${shard}: ${
          message
            .slice(message.indexOf(FALLBACK_SIGNAL) + FALLBACK_SIGNAL.length)
            .replace(/^[:\s]+/, '')
            .split('\n')[0]
        }; using the fallback query`,
      );
      return this.writeShardQuery(q.fallback, shard);
    }
  }

  /** Re-processes only the failed rows of a committed shard, keeping its ok rows as they are. */
  private async retryShard(shard: number, manifest: NodeManifest): Promise<ShardMarker> {
    const file = this.layout.shardFile(shard);
    const conn = await connect();
    try {
      // Copy the old shard aside first: the new file replaces it while its ok rows are read.
      const old = `${file}.retry-${process.pid}`;
      await fs.copyFile(file, old);
      const failed = await queryRows(
        conn,
        `SELECT * EXCLUDE (status, error) FROM read_parquet(${sqlString(old)}) WHERE status <> 'ok' ORDER BY id`,
      );
      const okRows = queryBatches(conn, `SELECT * FROM read_parquet(${sqlString(old)}) WHERE status = 'ok' ORDER BY id`);
      try {
        return await this.runShard(shard, manifest, { rows: failed, ids: failed.map((r) => String(r.id)) }, okRows);
      } finally {
        await fs.rm(old, { force: true });
      }
    } finally {
      conn.closeSync();
    }
  }

  /** Runs the stage's SQL checks once every shard is committed under the current fingerprint. */
  private async checkIfComplete(known?: Map<number, ShardMarker>): Promise<void> {
    const markers = known ?? (await readMarkers(this.layout));
    for (let s = 0; s < this.spec.shards; s++) if (markers.get(s)?.fingerprint !== this.plan.fingerprint) return;
    await runChecks(this.pipeline, this.spec, this.layout, markers, (m) => this.env.progress.log(m));
  }
}
