// `derive`: new columns computed by SQL expressions over one input node, row for row.
// E.g. `columns: {aesthetic_10: {sql: "score * 10", type: DOUBLE}}`.

import { p } from './params.js';
import { defineStage, type ColumnType } from './types.js';
import { sqlFileList } from '../store/duck.js';

const TYPES = ['VARCHAR', 'DOUBLE', 'FLOAT', 'INTEGER', 'BIGINT', 'BOOLEAN'] as const;

export const derive = defineStage({
  kind: 'derive',
  version: 1,
  doc: 'Columns computed by DuckDB SQL expressions over the input rows.',
  mode: 'map',
  params: {
    columns: p.record(
      p.object(
        {
          sql: p.string({ doc: 'a DuckDB expression over the input columns' }),
          type: p.enum(TYPES, { doc: 'result type', default: 'DOUBLE' }),
        },
        { doc: 'a column' },
      ),
      {
        doc: 'output column name -> {sql, type}',
      },
    ),
  },
  needs: { min: 1, max: 1 },
  rowsCanFail: false,
  columns: (params) => Object.entries(params.columns).map(([name, c]) => ({ name, type: c.type as ColumnType })),
  query(ctx) {
    const files = ctx.inputs.files(ctx.needs[0]!);
    const cols = Object.entries(ctx.params.columns).map(([name, c]) => `CAST((${c.sql}) AS ${c.type}) AS "${name}"`);
    return `SELECT id, ${cols.join(', ')} FROM read_parquet(${sqlFileList(files)})`;
  },
});
