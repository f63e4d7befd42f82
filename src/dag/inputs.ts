// Reads a node's inputs from the committed Parquet of its needs: one shard for map stages,
// every shard for global ones. Inputs are joined by id, never by position; a row that failed or
// is missing upstream arrives with `upstream_error` set.

import type { DuckDBConnection } from '@duckdb/node-api';
import type { Batch, ColumnRef, InputReader, SelectOptions } from '../stages/types.js';
import type { NodeSpec } from './pipeline.js';
import { queryBatches, sqlFileList, sqlIdent, sqlString } from '../store/duck.js';
import { joinById, joinedColumn, type JoinedNodes } from '../store/join.js';
import { StageError } from '../errors.js';
import { readManifest } from '../store/markers.js';
import type { NodeLayout } from '../store/layout.js';

export class ParquetInputs implements InputReader {
  constructor(
    private readonly conn: DuckDBConnection,
    private readonly node: NodeSpec,
    private readonly specs: ReadonlyMap<string, NodeSpec>,
    private readonly filesOf: (need: string) => string[],
    private readonly retryIds: readonly string[] | null,
    private readonly layoutOf: (need: string) => NodeLayout,
  ) {}

  columns(need: string): string[] {
    return this.nodeSpecOf(need).columns.map((c) => c.name);
  }

  layout(need: string): NodeLayout {
    if (!this.node.needs.includes(need)) throw new StageError(this.node.name, undefined, `reads ${need}, which is not in its needs`);
    return this.layoutOf(need);
  }

  files(need: string): string[] {
    if (!this.node.needs.includes(need)) throw new StageError(this.node.name, undefined, `reads ${need}, which is not in its needs`);
    return this.filesOf(need);
  }

  async manifestState(need: string): Promise<unknown> {
    return (await readManifest(this.layout(need)))?.state;
  }

  joinSql(columns: Record<string, ColumnRef>): string {
    const join = this.joinById(columns);
    const cols = Object.entries(columns).map(([as, r]) => joinedColumn(join, r.node, r.column, as, this.hasStatus(r.node)));
    return `SELECT t0.id AS id${cols.map((c) => `, ${c}`).join('')} FROM ${join.from}`;
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

  /** The needs named by the columns (the first node's rows decide), joined by id. */
  private joinById(columns: Record<string, ColumnRef>): JoinedNodes & { nodes: string[] } {
    const nodes = [...new Set(Object.values(columns).map((r) => r.node))];
    if (nodes.length === 0) nodes.push(this.node.needs[0]!);
    return { nodes, ...joinById(nodes, (n) => this.files(n)) };
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
