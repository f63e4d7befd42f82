// The Dataset page's data: the release's rows (captions, every reward's score, bin and target,
// status) as one DuckDB table built when the server starts (or reloads), pages of it under a
// user's filter and sort with keyset pagination, one row's everything, and image bytes by id.
// The filter is one SQL expression (checked by DuckDB's parser) over a sandboxed connection.

import type { DuckDBConnection } from '@duckdb/node-api';
import type { Pipeline } from '../dag/pipeline.js';
import { layoutOf, nodeFilesSql } from '../store/layout.js';
import { readManifest, readMarkers } from '../store/markers.js';
import { queryRows, sqlIdent } from '../store/duck.js';
import { assertExpression } from '../store/sql-guard.js';
import type { Value } from '../store/batch.js';
import { BadRequest, MiroError } from '../errors.js';
import { releaseSources, type ReleaseSources } from '../release/plan.js';
import { releaseSql } from '../release/release.js';

/**
 * DuckDB's first line, with every single-quoted literal elided: a conversion error quotes the value
 * it could not convert, which may be the contents of a file the filter read.
 */
export function scrubbed(message: string): string {
  return message.split('\n')[0]!.replace(/'(?:[^']|'')*'/g, "'…'");
}

export interface Page {
  rows: Record<string, Value>[];
  /** Opaque cursor for the next page, or null at the end. */
  next: string | null;
  total: number;
}

export class Dataset {
  readonly columns: string[] = [];
  readonly rewards: string[];

  private constructor(
    private readonly conn: DuckDBConnection,
    private readonly pipeline: Pipeline,
    readonly sources: ReleaseSources,
    rewards?: string[],
  ) {
    this.rewards = rewards ?? sources.rewards.map((r) => r.name);
  }

  /** Pages over a `dataset` table that already exists on `conn` (bench/serve.ts: a million synthetic rows). */
  static async overTable(conn: DuckDBConnection, rewards: string[]): Promise<Dataset> {
    const d = new Dataset(conn, null as unknown as Pipeline, null as unknown as ReleaseSources, rewards);
    const cols = await queryRows(conn, `SELECT column_name FROM (DESCRIBE dataset)`);
    d.columns.push(...cols.map((c) => String(c.column_name)));
    return d;
  }

  /** Builds the `dataset` table (everything but image bytes) from the committed shards. */
  static async open(conn: DuckDBConnection, pipeline: Pipeline): Promise<Dataset> {
    const d = new Dataset(conn, pipeline, releaseSources(pipeline));
    await d.reload();
    return d;
  }

  /** Why the table is empty (a node the rows come from has not committed every shard yet), or null. */
  waiting: string | null = null;

  async reload(): Promise<void> {
    const s = this.sources;
    const nodes = [s.source.name, s.bins.name, ...s.rewards.map((r) => r.score.node), s.longCaption?.node, s.shortCaption?.node];
    // Committed means a marker under the node's current fingerprint: a part file without one (a
    // run killed before its commit) does not count, so the table never shows uncommitted rows.
    const pending: string[] = [];
    for (const n of new Set(nodes.filter((x): x is string => !!x))) {
      const layout = layoutOf(this.pipeline, n);
      const [manifest, markers] = await Promise.all([readManifest(layout), readMarkers(layout)]);
      const committed = [...markers.values()].filter((m) => m.fingerprint === manifest?.fingerprint).length;
      if (committed < this.pipeline.nodes.get(n)!.shards) pending.push(n);
    }
    this.waiting = pending.length ? `no rows yet: ${pending.join(', ')} not complete; run the pipeline, then reload` : null;
    const select = pending.length
      ? `SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS caption, NULL::VARCHAR AS caption_long, NULL::VARCHAR AS caption_short, ${this.rewards
          .map((r) => `NULL::DOUBLE AS "${r}_score", NULL::INTEGER AS "${r}_bin", NULL::DOUBLE AS "${r}_target"`)
          .join(', ')}, NULL::VARCHAR AS status WHERE false`
      : `SELECT * EXCLUDE (image) FROM (${releaseSql(this.pipeline, s, 'path')})`;
    await this.conn.run(`CREATE OR REPLACE TEMP TABLE dataset AS ${select}`);
    const cols = await queryRows(this.conn, `SELECT column_name FROM (DESCRIBE dataset)`);
    this.columns.splice(0, this.columns.length, ...cols.map((c) => String(c.column_name)));
  }

  /** A page of rows under `where`, sorted by `sort` (a column) with id as the tie-breaker. */
  async page(opts: { where?: string; sort?: string; dir?: 'asc' | 'desc'; after?: string | null; limit?: number }): Promise<Page> {
    const sort = opts.sort || 'id';
    if (!this.columns.includes(sort)) throw new BadRequest(`sort: no column "${sort}" (columns: ${this.columns.join(', ')})`);
    const dir = opts.dir === 'desc' ? 'desc' : 'asc';
    const limit = Math.min(200, Math.max(1, opts.limit ?? 48));
    const where = opts.where?.trim() ? await this.filter(opts.where) : 'true';
    const col = sqlIdent(sort);
    let keyset = 'true';
    const params: (string | number | boolean | null)[] = [];
    if (opts.after) {
      let cursor: { v: Value; id: string };
      try {
        cursor = JSON.parse(Buffer.from(opts.after, 'base64url').toString('utf8')) as { v: Value; id: string };
      } catch {
        throw new BadRequest('after: not a cursor from this server');
      }
      const v = cursor.v;
      if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
        throw new BadRequest('after: not a cursor from this server');
      // The cursor's values are bound, never spliced: exact (a DOUBLE stays a DOUBLE) and inert.
      const op = dir === 'asc' ? '>' : '<';
      params.push(String(cursor.id));
      // NULLs sort last in both directions.
      if (sort === 'id') keyset = `id ${op} $1`;
      else if (v === null) keyset = `(${col} IS NULL AND id > $1)`;
      else {
        params.push(v);
        keyset = `(${col} ${op} $2 OR (${col} = $2 AND id > $1) OR ${col} IS NULL)`;
      }
    }
    const order = sort === 'id' ? `id ${dir}` : `${col} ${dir} NULLS LAST, id ASC`;
    // A filter that parses may still fail on the rows (a cast of a caption to a number): the user's error, a 400.
    const userError = (err: unknown): never => {
      throw opts.where?.trim() ? new BadRequest((err as Error).message) : err;
    };
    const rows = await this.query(
      `SELECT * FROM dataset WHERE (${where}) AND ${keyset} ORDER BY ${order} LIMIT ${limit + 1}`,
      params,
    ).catch(userError);
    const [{ n }] = (await this.query(`SELECT count(*)::INTEGER AS n FROM dataset WHERE (${where})`).catch(userError)) as [{ n: number }];
    const more = rows.length > limit;
    const shown = rows.slice(0, limit);
    const last = shown.at(-1);
    return {
      rows: shown,
      total: Number(n),
      next: more && last ? Buffer.from(JSON.stringify({ v: last[sort] ?? null, id: last.id })).toString('base64url') : null,
    };
  }

  /** Everything known about one row: its dataset columns, and each node's status and error for it. */
  async row(
    id: string,
  ): Promise<{ row: Record<string, Value>; nodes: { node: string; status: string | null; error: string | null }[] } | null> {
    const [row] = await this.query('SELECT * FROM dataset WHERE id = $1', [id]);
    if (!row) return null;
    const nodes: { node: string; status: string | null; error: string | null }[] = [];
    for (const spec of this.pipeline.nodes.values()) {
      if (!spec.stage.rowsCanFail) continue;
      const [r] = await this.query(`SELECT status, error FROM read_parquet(${this.files(spec.name)}) WHERE id = $1`, [id]).catch(
        () => [] as Record<string, Value>[],
      );
      if (r) nodes.push({ node: spec.name, status: (r.status as string) ?? null, error: (r.error as string) ?? null });
    }
    return { row, nodes };
  }

  /** The source image's bytes, or null for an unknown id. */
  async image(id: string): Promise<Uint8Array | null> {
    const [r] = await this.query(
      `SELECT "${this.sources.image.column}" AS b FROM read_parquet(${this.files(this.sources.image.node)}) WHERE id = $1 LIMIT 1`,
      [id],
    );
    return (r?.b as Uint8Array | undefined) ?? null;
  }

  /** The filter, checked to be one expression, wrapped so its errors are a 400 with DuckDB's message. */
  private async filter(expr: string): Promise<string> {
    try {
      await assertExpression(this.conn, expr, 'filter');
      await this.conn.run(`SELECT count(*) FROM dataset WHERE (${expr}) LIMIT 0`);
    } catch (err) {
      throw new BadRequest(scrubbed((err as Error).message));
    }
    return expr;
  }

  private files(node: string): string {
    return nodeFilesSql(this.pipeline, node);
  }

  private async query(sql: string, params?: (string | number | boolean | null)[]): Promise<Record<string, Value>[]> {
    try {
      const rows = await queryRows(this.conn, sql, params);
      // JSON has no integers past 2^53: the page gets such a value (a BIGINT id, a count) as its exact digits.
      for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === 'bigint') r[k] = String(v);
      return rows;
    } catch (err) {
      throw new MiroError(scrubbed((err as Error).message));
    }
  }
}
