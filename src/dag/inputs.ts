// Reads a node's inputs from the committed Parquet of its needs: one shard for map stages,
// every shard for global ones. Inputs are joined by id, never by position; a row that failed or
// is missing upstream arrives with `upstream_error` set.

import type { DuckDBConnection } from '@duckdb/node-api';
import type { Batch, ColumnRef, InputReader, SelectOptions } from '../stages/types.js';
import type { NodeSpec } from './pipeline.js';
import { queryBatches, sqlFileList, sqlIdent, sqlString } from '../store/duck.js';
import { StageError } from '../errors.js';
import { readManifest } from '../store/markers.js';
import { NodeLayout } from '../store/layout.js';

export class ParquetInputs implements InputReader {
  constructor(
    private readonly conn: DuckDBConnection,
    private readonly node: NodeSpec,
    private readonly specs: ReadonlyMap<string, NodeSpec>,
    private readonly filesOf: (need: string) => string[],
    private readonly retryIds: readonly string[] | null,
    private readonly dirOf: (need: string) => string,
  ) {}

  columns(need: string): string[] {
    return this.nodeSpecOf(need).columns.map((c) => c.name);
  }

  dir(need: string): string {
    if (!this.node.needs.includes(need)) throw new StageError(this.node.name, undefined, `reads ${need}, which is not in its needs`);
    return this.dirOf(need);
  }

  files(need: string): string[] {
    if (!this.node.needs.includes(need)) throw new StageError(this.node.name, undefined, `reads ${need}, which is not in its needs`);
    return this.filesOf(need);
  }

  async manifestState(need: string): Promise<unknown> {
    return (await readManifest(new NodeLayout(this.dir(need))))?.state;
  }

  joinSql(columns: Record<string, ColumnRef>): string {
    const join = this.joinById(columns);
    const value = ([as, r]: [string, ColumnRef]) => {
      const t = join.alias.get(r.node)!;
      const col = `${t}.${sqlIdent(r.column)}`;
      return `${this.hasStatus(r.node) ? `CASE WHEN ${t}.status = 'ok' THEN ${col} END` : col} AS ${sqlIdent(as)}`;
    };
    return `SELECT t0.id AS id${Object.entries(columns)
      .map((c) => `, ${value(c)}`)
      .join('')} FROM ${join.from}`;
  }

  select(opts: SelectOptions): AsyncIterable<Batch> {
    const join = this.joinById(opts.columns);
    const upstream = join.nodes.map((n, i) => {
      const missing = i === 0 ? '' : `WHEN t${i}.id IS NULL THEN ${sqlString(`${n}: no row`)} `;
      const failed = this.hasStatus(n) ? `WHEN t${i}.status <> 'ok' THEN ${sqlString(`${n}: `)} || t${i}.status ` : '';
      return missing || failed ? `CASE ${missing}${failed}END` : 'NULL';
    });
    const cols = Object.entries(opts.columns).map(([as, r]) => `${join.alias.get(r.node)}.${sqlIdent(r.column)} AS ${sqlIdent(as)}`);
    const ids = opts.ids ?? this.retryIds;
    const where = ids ? `WHERE t0.id IN (SELECT unnest(${sqlFileList(ids)}))` : '';
    const sql = `SELECT t0.id AS id${cols.map((c) => `, ${c}`).join('')}, concat_ws('; ', ${upstream.join(', ')}) AS upstream_error FROM ${join.from} ${where} ORDER BY t0.id`;
    return mapEmptyToNull(queryBatches(this.conn, sql, opts.batchRows ?? 256));
  }

  /** The one join of this project: the needs' files LEFT JOINed by id onto the first node's rows. */
  private joinById(columns: Record<string, ColumnRef>): { nodes: string[]; alias: Map<string, string>; from: string } {
    const nodes = [...new Set(Object.values(columns).map((r) => r.node))];
    if (nodes.length === 0) nodes.push(this.node.needs[0]!);
    const alias = new Map(nodes.map((n, i) => [n, `t${i}`]));
    const from = nodes
      .map((n, i) => {
        const src = `read_parquet(${sqlFileList(this.files(n))})`;
        return i === 0 ? `${src} t0` : `LEFT JOIN ${src} t${i} ON t${i}.id = t0.id`;
      })
      .join(' ');
    return { nodes, alias, from };
  }

  private hasStatus(node: string): boolean {
    return this.nodeSpecOf(node).columns.some((c) => c.name === 'status');
  }

  private nodeSpecOf(name: string): NodeSpec {
    const spec = this.specs.get(name);
    if (!spec) throw new StageError(this.node.name, undefined, `unknown input ${name}`);
    return spec;
  }
}

async function* mapEmptyToNull(batches: AsyncIterable<Batch>): AsyncIterable<Batch> {
  for await (const b of batches) {
    const col = b.columns.upstream_error as (string | null)[];
    for (let i = 0; i < col.length; i++) if (col[i] === '') col[i] = null;
    yield b;
  }
}
