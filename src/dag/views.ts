// `miro sql` and the reports see one view per node over its committed shards, one per
// node-level table (e.g. bin_edges), and convenience views defined in sql/views/*.sql.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Pipeline } from './pipeline.js';
import { layoutOf } from '../store/layout.js';
import { readManifest, readMarkers } from '../store/markers.js';
import { connect, connectIsolated, sqlFileList, sqlIdent, sqlString } from '../store/duck.js';
import { SQL_DIR } from '../util/sql-file.js';

export interface ViewInfo {
  name: string;
  kind: 'node' | 'table' | 'convenience';
  /** Committed Parquet files behind the view (0 for convenience views). */
  files: number;
}

/** Views with data behind them: nodes with committed shards, tables, and convenience views. */
export function populated(views: ViewInfo[]): Set<string> {
  return new Set(views.filter((v) => v.files > 0 || v.kind === 'convenience').map((v) => v.name));
}

/** `isolated`: on a DuckDB instance of its own, for a caller that will sandbox the connection. */
export async function openViews(
  pipeline: Pipeline,
  opts: { isolated?: boolean } = {},
): Promise<{ conn: DuckDBConnection; views: ViewInfo[] }> {
  const conn = opts.isolated ? await connectIsolated() : await connect();
  const views: ViewInfo[] = [];
  for (const name of pipeline.order) {
    const spec = pipeline.nodes.get(name)!;
    const layout = layoutOf(pipeline, name);
    const manifest = await readManifest(layout);
    const markers = await readMarkers(layout);
    const files = [...markers.values()]
      .filter((m) => m.fingerprint === manifest?.fingerprint)
      .sort((a, b) => a.shard - b.shard)
      .map((m) => layout.shardFile(m.shard));
    const cols = spec.columns.map((c) => `NULL::${c.type} AS ${sqlIdent(c.name)}`).join(', ');
    // A node with nothing committed is still a view, with its columns and no rows.
    const body = files.length ? `SELECT * FROM read_parquet(${sqlFileList(files)})` : `SELECT ${cols} WHERE false`;
    await conn.run(`CREATE OR REPLACE VIEW ${sqlIdent(name)} AS ${body}`);
    views.push({ name, kind: 'node', files: files.length });
    for (const [table, t] of Object.entries(manifest?.tables ?? {})) {
      const viewName = table === 'sources' ? `${name}_sources` : table;
      await conn.run(
        `CREATE OR REPLACE VIEW ${sqlIdent(viewName)} AS SELECT * FROM read_parquet(${sqlString(path.join(layout.dir, t.file))})`,
      );
      views.push({ name: viewName, kind: 'table', files: 1 });
    }
  }
  await createConvenienceViews(conn, pipeline, views);
  await createRewardInputs(conn, pipeline, views);
  return { conn, views };
}

/**
 * `reward_inputs`: one row per reward of each bins node, with whether its scorer reads a caption
 * (the image-only rewards do not), so reports can tell image rewards from image-text ones.
 */
async function createRewardInputs(conn: DuckDBConnection, pipeline: Pipeline, views: ViewInfo[]): Promise<void> {
  const rows: string[] = [];
  for (const name of pipeline.order) {
    const spec = pipeline.nodes.get(name)!;
    if (spec.stage.kind !== 'bins') continue;
    for (const [reward, ref] of Object.entries((spec.params as { rewards: Record<string, { node: string }> }).rewards)) {
      const scorer = pipeline.nodes.get(ref.node)?.params as { caption?: unknown } | undefined;
      rows.push(`(${sqlString(name)}, ${sqlString(reward)}, ${scorer?.caption ? 'true' : 'false'})`);
    }
  }
  if (rows.length === 0) return;
  await conn.run(`CREATE OR REPLACE VIEW reward_inputs AS SELECT * FROM (VALUES ${rows.join(', ')}) v(bins_node, reward, reads_caption)`);
  views.push({ name: 'reward_inputs', kind: 'convenience', files: 0 });
}

/**
 * sql/views/<name>.sql define views over nodes of a stage kind. A view file starts with
 * `-- over: <kind>` and uses `{{each}} ... {{/each}}` blocks, expanded once per node of that
 * kind with `{{node}}`, `{{i}}` and `{{name}}` (the node's `name` parameter, else its scorer, else the node name).
 */
async function createConvenienceViews(conn: DuckDBConnection, pipeline: Pipeline, views: ViewInfo[]): Promise<void> {
  const dir = path.join(SQL_DIR, 'views');
  if (!existsSync(dir)) return;
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const kind = /^-- over: (\S+)/m.exec(text)?.[1];
    const nodes = pipeline.order.filter((n) => pipeline.nodes.get(n)!.stage.kind === kind);
    if (nodes.length === 0 || views.some((v) => v.name === file.slice(0, -4))) continue;
    const sql = text.replace(/\{\{each(?: sep="([^"]*)")?\}\}([\s\S]*?)\{\{\/each\}\}/g, (_m, sep: string | undefined, body: string) =>
      nodes
        .map((n, i) => {
          const params = pipeline.nodes.get(n)!.params as { name?: string; scorer?: string };
          return body
            .replaceAll('{{node}}', sqlIdent(n))
            .replaceAll('{{name}}', sqlIdent(params.name || params.scorer || n))
            .replaceAll('{{i}}', String(i));
        })
        .join(sep ?? ''),
    );
    await conn.run(sql);
    views.push({ name: file.slice(0, -4), kind: 'convenience', files: 0 });
  }
}
