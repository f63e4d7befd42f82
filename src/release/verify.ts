// `miro verify`: re-hashes every file of a release and checks row counts, schema, unique ids and
// that every bin and target agrees with the recorded edges. Returns every difference found.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { connect, queryRows, sqlFileList, sqlString, writeParquet } from '../store/duck.js';
import { binColumns } from '../binning/duckdb-function.js';
import { EdgeSearch } from '../binning/search.js';
import { sha256File } from '../util/hash.js';
import { IMAGE_INDEX, type FileRecord, type ReleaseManifest } from '../store/release-manifest.js';
import { tarEntries } from '../util/tar.js';
import type { Column, Value } from '../store/batch.js';
import os from 'node:os';

async function walk(dir: string, root: string, out: string[]): Promise<void> {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, root, out);
    else out.push(path.relative(root, full));
  }
}

export async function verifyRelease(dir: string): Promise<{ manifest: ReleaseManifest | null; problems: string[] }> {
  const problems: string[] = [];
  let manifest: ReleaseManifest;
  try {
    manifest = JSON.parse(await fs.readFile(path.join(dir, 'release.json'), 'utf8')) as ReleaseManifest;
  } catch (err) {
    return { manifest: null, problems: [`release.json: unreadable (${(err as Error).message})`] };
  }
  if (manifest.format !== 'miro-release/1' && manifest.format !== 'miro-release/2')
    problems.push(`release.json: unknown format ${JSON.stringify(manifest.format)}`);

  const listed = new Set(manifest.files.map((f) => f.path));
  const present: string[] = [];
  await walk(dir, dir, present);
  const imageFiles = present.filter((f) => manifest.images === 'path' && f.startsWith('images/'));
  for (const f of present.sort()) {
    if (f === 'release.json' || f === 'README.md' || imageFiles.includes(f)) continue;
    if (!listed.has(f)) problems.push(`${f}: extra file, not in release.json`);
  }
  const conn = await connect();
  let scratch: string | null = null;
  try {
    const readable: string[] = [];
    const samples: Record<string, unknown>[] = [];
    for (const rec of manifest.files) {
      const file = path.join(dir, rec.path);
      const stat = await fs.stat(file).catch(() => null);
      if (!stat) {
        problems.push(`${rec.path}: missing`);
        continue;
      }
      if (stat.size !== rec.bytes) problems.push(`${rec.path}: ${stat.size} bytes, release.json says ${rec.bytes}`);
      const sha = await sha256File(file);
      if (sha !== rec.sha256) problems.push(`${rec.path}: sha256 ${sha.slice(0, 16)}..., release.json says ${rec.sha256.slice(0, 16)}...`);
      if (rec.path.endsWith('.png')) continue; // the card's image grid: its bytes and hash are all there is to check
      if (rec.path.endsWith('.tar')) {
        problems.push(...(await checkShard(file, rec, manifest, samples)));
        continue;
      }
      let rows: number;
      let schema: { name: string; type: string }[];
      try {
        rows = Number((await queryRows(conn, `SELECT count(*) AS n FROM read_parquet(${sqlString(file)})`))[0]!.n);
        schema = (
          await queryRows(
            conn,
            `SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(file)}))`,
          )
        ).map((r) => ({ name: String(r.name), type: String(r.type) }));
      } catch (err) {
        problems.push(`${rec.path}: not readable as Parquet (${(err as Error).message.split('\n')[0]})`);
        continue;
      }
      if (rows !== rec.rows) problems.push(`${rec.path}: ${rows} rows, release.json says ${rec.rows}`);
      if (JSON.stringify(schema) !== JSON.stringify(rec.schema))
        problems.push(`${rec.path}: schema differs from release.json (${schema.map((c) => `${c.name} ${c.type}`).join(', ')})`);
      if (rec.path.startsWith('data/')) readable.push(file);
    }
    if (manifest.images === 'path') problems.push(...(await checkImages(conn, dir, imageFiles)));
    if (samples.length) {
      // The tars' samples, as the columns the Parquet checks below read.
      scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'miro-verify-'));
      const table = path.join(scratch, 'samples.parquet');
      const columns: Column[] = [
        { name: 'id', type: 'VARCHAR' },
        ...manifest.rewards.flatMap((r): Column[] => [
          { name: `${r}_score`, type: 'DOUBLE' },
          { name: `${r}_bin`, type: 'INTEGER' },
          { name: `${r}_target`, type: 'DOUBLE' },
        ]),
      ];
      await writeParquet(
        columns,
        [
          {
            rows: samples.length,
            columns: Object.fromEntries(columns.map((c) => [c.name, samples.map((x) => (x[c.name] ?? null) as Value)])),
          },
        ],
        table,
        { context: 'verify' },
      );
      readable.push(table);
    }
    if (readable.length) {
      const data = `read_parquet(${sqlFileList(readable)}, union_by_name = true)`;
      const dupes = await queryRows(conn, `SELECT id, count(*) AS copies FROM ${data} GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 5`);
      for (const d of dupes) problems.push(`id ${d.id} appears ${d.copies} times`);
      const nullIds = Number((await queryRows(conn, `SELECT count(*) AS n FROM ${data} WHERE id IS NULL`))[0]!.n);
      if (nullIds) problems.push(`${nullIds} row(s) without an id`);
      const B = manifest.bin_edges.num_bins;
      for (const r of manifest.rewards) {
        const edges = manifest.bin_edges.edges[r]?.edges;
        if (!edges) {
          problems.push(`reward ${r}: no edges in release.json`);
          continue;
        }
        // The bins stage's own search (one implementation of MIRO's bucketize), as a DuckDB function.
        const { packed, bins } = binColumns(conn, [new EdgeSearch(edges, B)], [`"${r}_score"`], 'verify_packed');
        const bad = await queryRows(
          conn,
          `SELECT id, score, bin, target, expected FROM (
             SELECT id, "${r}_score" AS score, "${r}_bin" AS bin, "${r}_target" AS target, ${bins[0]} AS expected
             FROM (SELECT *, ${packed[0]} FROM ${data}))
           WHERE bin IS DISTINCT FROM expected OR target IS DISTINCT FROM expected / ${B - 1}::DOUBLE ORDER BY id`,
        );
        if (bad.length)
          problems.push(
            `reward ${r}: ${bad.length} row(s) whose bin or target disagrees with the recorded edges (first: id ${bad[0]!.id}, score ${bad[0]!.score}, bin ${bad[0]!.bin}, target ${bad[0]!.target}, expected bin ${bad[0]!.expected})`,
          );
      }
    }
  } finally {
    conn.closeSync();
    if (scratch) await fs.rm(scratch, { recursive: true, force: true });
  }
  return { manifest, problems };
}

/**
 * A webdataset shard: its samples (members grouped by the key before the first dot) number what
 * release.json says, each has the members the schema lists, and its json parses; the json's bins,
 * targets and raw scores join `samples` for the checks against the edges.
 */
async function checkShard(file: string, rec: FileRecord, manifest: ReleaseManifest, samples: Record<string, unknown>[]): Promise<string[]> {
  const problems: string[] = [];
  const members = new Map<string, Set<string>>();
  try {
    // A release's shards hold regular files only, each name once: anything else (a symlink, a pax
    // header, a duplicate that a reader would take instead of the first) is a problem, even when
    // release.json was rewritten to match the shard's hash.
    const other = (name: string, type: string) =>
      problems.push(`${rec.path}: member ${name} is not a regular file (tar type ${JSON.stringify(type)})`);
    for await (const e of tarEntries(file, (n) => n.endsWith('.json'), other)) {
      const dot = e.name.indexOf('.');
      const key = e.name.slice(0, dot);
      const ext = e.name.slice(dot + 1);
      if (!members.has(key)) members.set(key, new Set());
      if (members.get(key)!.has(ext)) problems.push(`${rec.path}: member ${e.name} appears twice`);
      members.get(key)!.add(ext);
      if (ext === 'json') {
        const json = JSON.parse(Buffer.from(e.data!).toString('utf8')) as {
          miro?: { scores: Record<string, number | null>; bins: Record<string, number | null>; targets: Record<string, number | null> };
        };
        if (!json.miro) {
          problems.push(`${rec.path}: sample ${key} has no "miro" object in its json`);
          continue;
        }
        const row: Record<string, unknown> = { id: key };
        for (const r of manifest.rewards) {
          row[`${r}_score`] = json.miro.scores[r] ?? null;
          row[`${r}_bin`] = json.miro.bins[r] ?? null;
          row[`${r}_target`] = json.miro.targets[r] ?? null;
        }
        samples.push(row);
      }
    }
  } catch (err) {
    return [`${rec.path}: not a readable tar (${(err as Error).message})`];
  }
  if (members.size !== rec.rows) problems.push(`${rec.path}: ${members.size} samples, release.json says ${rec.rows}`);
  const required = ['jpg', 'txt', 'json'];
  for (const [key, got] of members) {
    const lacking = required.filter((m) => !got.has(m));
    if (lacking.length) problems.push(`${rec.path}: sample ${key} lacks ${lacking.join(', ')}`);
    const unknown = [...got].filter((m) => !rec.schema.some((c) => c.name === m));
    if (unknown.length) problems.push(`${rec.path}: sample ${key} has members release.json does not list: ${unknown.join(', ')}`);
  }
  return problems;
}

/** With --images path: every image file in images.parquet is there with its bytes and sha256, and no other is. */
async function checkImages(conn: Awaited<ReturnType<typeof connect>>, dir: string, present: string[]): Promise<string[]> {
  const problems: string[] = [];
  let index: { path: string; sha256: string; bytes: number }[];
  try {
    index = (
      await queryRows(conn, `SELECT path, sha256, bytes FROM read_parquet(${sqlString(path.join(dir, IMAGE_INDEX))}) ORDER BY path`)
    ).map((r) => ({ path: String(r.path), sha256: String(r.sha256), bytes: Number(r.bytes) }));
  } catch (err) {
    return [`${IMAGE_INDEX}: the index of the image files is unreadable (${(err as Error).message.split('\n')[0]})`];
  }
  const listed = new Set(index.map((i) => i.path));
  for (const f of present) if (!listed.has(f)) problems.push(`${f}: extra image file, not in ${IMAGE_INDEX}`);
  for (const img of index) {
    const file = path.join(dir, img.path);
    const stat = await fs.stat(file).catch(() => null);
    if (!stat) {
      problems.push(`${img.path}: missing`);
      continue;
    }
    const sha = await sha256File(file);
    if (stat.size !== img.bytes || sha !== img.sha256)
      problems.push(
        `${img.path}: ${stat.size} bytes, sha256 ${sha.slice(0, 16)}...; ${IMAGE_INDEX} says ${img.bytes} bytes, ${img.sha256.slice(0, 16)}...`,
      );
  }
  return problems;
}
