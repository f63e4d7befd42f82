// The one join of this project: nodes' Parquet files LEFT JOINed by id onto the first node's
// rows, never by position. Node inputs (dag/inputs.ts) and the training stream's windows
// (train/stream.ts) both build their SQL from it.

import { sqlFileList, sqlIdent, sqlString } from './sql-text.js';

export interface JoinedNodes {
  /** node -> its table alias (t0 is the first node's). */
  alias: Map<string, string>;
  from: string;
}

export function joinById(nodes: readonly string[], filesOf: (node: string) => readonly string[]): JoinedNodes {
  const alias = new Map(nodes.map((n, i) => [n, `t${i}`]));
  const from = nodes
    .map((n, i) => {
      const src = `read_parquet(${sqlFileList(filesOf(n))})`;
      return i === 0 ? `${src} t0` : `LEFT JOIN ${src} t${i} ON t${i}.id = t0.id`;
    })
    .join(' ');
  return { alias, from };
}

/** `<alias>.<column> AS <as>`; NULL where a node with a status column did not succeed for the row. */
export function joinedColumn(join: JoinedNodes, node: string, column: string, as: string, hasStatus: boolean, field?: string): string {
  const t = join.alias.get(node)!;
  const col = field === undefined ? `${t}.${sqlIdent(column)}` : `struct_extract(${t}.${sqlIdent(column)}, ${sqlString(field)})`;
  return `${hasStatus ? `CASE WHEN ${t}.status = 'ok' THEN ${col} END` : col} AS ${sqlIdent(as)}`;
}
