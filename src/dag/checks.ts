// After a node's last shard commits, the SQL checks of its stage kind run over its committed
// Parquet: `sql/checks/all.sql` for every node, `<mode>.sql` (source, map, global), `rows_can_fail.sql`
// where rows carry a status, and `<kind>.sql`. A check passes when its query returns no rows.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Pipeline, NodeSpec } from './pipeline.js';
import { layoutOf, type NodeLayout } from '../store/layout.js';
import { readManifest, type ShardMarker } from '../store/markers.js';
import { connect, queryRows, sqlFileList, sqlString } from '../store/duck.js';
import { readJsonIfExists, writeFileAtomic } from '../store/atomic.js';
import { StageError } from '../errors.js';
import { sha256 } from '../util/hash.js';
import { SQL_DIR, sqlSections } from '../util/sql-file.js';

export interface Check {
  name: string;
  file: string;
  sql: string;
}

/** Splits a checks file into its `-- check: name` sections. */
export function parseChecks(file: string): Check[] {
  return sqlSections(file, 'check').map((section) => ({ ...section, file }));
}

export function checksFor(spec: NodeSpec): Check[] {
  const files = ['all', spec.stage.mode, spec.stage.rowsCanFail ? 'rows_can_fail' : '', spec.stage.kind]
    .filter(Boolean)
    .map((f) => path.join(SQL_DIR, 'checks', `${f}.sql`))
    .filter((f) => existsSync(f));
  return files.flatMap(parseChecks);
}

export async function runChecks(
  pipeline: Pipeline,
  spec: NodeSpec,
  layout: NodeLayout,
  markers: Map<number, ShardMarker>,
  log: (m: string) => void = () => {},
): Promise<void> {
  const key = sha256(
    [...markers.values()]
      .map((m) => m.sha256)
      .sort()
      .join(),
  );
  const record = path.join(layout.dir, '_checks.json');
  const prev = await readJsonIfExists<{ key: string; passed: string[] }>(record);
  if (prev?.key === key) return;
  const conn = await connect();
  try {
    const files = layout.shardFiles(spec.shards);
    await conn.run(`CREATE OR REPLACE TEMP VIEW this AS SELECT * FROM read_parquet(${sqlFileList(files)})`);
    const input = spec.needs[0];
    if (input) {
      const up = layoutOf(pipeline, input);
      const upFiles = up.shardFiles(pipeline.nodes.get(input)!.shards);
      await conn.run(`CREATE OR REPLACE TEMP VIEW input AS SELECT * FROM read_parquet(${sqlFileList(upFiles)})`);
    }
    const tables = (await readManifest(layout))?.tables ?? {};
    for (const [name, t] of Object.entries(tables)) {
      await conn.run(`CREATE OR REPLACE TEMP VIEW ${name} AS SELECT * FROM read_parquet(${sqlString(path.join(layout.dir, t.file))})`);
    }
    const passed: string[] = [];
    const t0 = performance.now();
    for (const check of checksFor(spec)) {
      let rows;
      try {
        rows = await queryRows(conn, `${check.sql} LIMIT 5`);
      } catch (err) {
        throw new StageError(
          spec.name,
          undefined,
          `check ${check.name} (${path.relative(process.cwd(), check.file)}) could not run: ${(err as Error).message}`,
          { cause: err },
        );
      }
      if (rows.length > 0) {
        const shown = rows
          .map((r) => JSON.stringify(r, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)))
          .join('\n    ');
        throw new StageError(
          spec.name,
          undefined,
          `check ${check.name} failed (${path.relative(process.cwd(), check.file)}); first offending rows:\n    ${shown}`,
        );
      }
      passed.push(check.name);
    }
    await writeFileAtomic(record, JSON.stringify({ key, passed }));
    log(`[${spec.name}] ${passed.length} checks passed in ${((performance.now() - t0) / 1000).toFixed(2)}s`);
  } finally {
    conn.closeSync();
  }
}
