// The context a stage sees: its parameters, folder, inputs (joined by id), logging, views over
// the pipeline, and its own node tables. Built by the runner; stages never see the runner.

import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { shardsRead, type Pipeline, type NodeSpec } from './pipeline.js';
import { ParquetInputs } from './inputs.js';
import { openViews, populated } from './views.js';
import { layoutOf, type NodeLayout } from '../store/layout.js';
import { sqlString, writeParquet } from '../store/duck.js';
import type { TableRecord } from '../store/markers.js';
import type { ProgressSink } from '../util/progress.js';
import type { Batch, Column, NodeContext } from '../stages/types.js';

export function nodeContext(
  pipeline: Pipeline,
  spec: NodeSpec,
  layout: NodeLayout,
  progress: ProgressSink,
  conn: DuckDBConnection,
  tables: Record<string, TableRecord>,
  shard: number | null,
  retryIds: string[] | null,
): NodeContext<Record<string, unknown>> {
  const files = (need: string): string[] => {
    const up = layoutOf(pipeline, need);
    return shardsRead(spec, pipeline.nodes.get(need)!, shard).map((s) => up.shardFile(s));
  };
  return {
    node: spec.name,
    params: spec.params,
    pipeline: pipeline.settings,
    dir: layout.dir,
    layout,
    duck: conn,
    needs: spec.needs,
    inputs: new ParquetInputs(conn, spec, pipeline.nodes, files, retryIds, (n) => layoutOf(pipeline, n)),
    log: (m) => progress.log(`[${spec.name}] ${m}`),
    openViews: async () => {
      const { conn: c, views } = await openViews(pipeline);
      return { conn: c, views: populated(views) };
    },
    // Where the manifest recorded the table (older runs kept tables elsewhere), else where it goes now.
    readTable: (name: string) =>
      `read_parquet(${sqlString(tables[name] ? path.join(layout.dir, tables[name].file) : layout.tableFile(name))})`,
    writeTable: async (name: string, columns: Column[], batches: Iterable<Batch> | AsyncIterable<Batch>) => {
      const orderBy = columns
        .map((c) => `"${c.name}"`)
        .slice(0, 2)
        .join(', ');
      const w = await writeParquet(columns, batches, layout.tableFile(name), { orderBy, context: `node ${spec.name}, table ${name}` });
      tables[name] = { file: path.relative(layout.dir, w.file), rows: w.rows, bytes: w.bytes, sha256: w.sha256 };
    },
  };
}
