// `miro release`: the final per-sample table of a run (image, captions, each reward's raw score,
// bin and target, status) as zstd Parquet shards sorted by id with a fixed row-group size, the bin
// edges, `release.json` (every file's sha256, bytes, rows and schema; the pipeline as it ran with
// fingerprints and parameters; model and prompt identities; versions; git commit) and a dataset
// card with Hugging Face front matter. Nothing time-dependent goes in, so the same run gives the
// same bytes.

import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Pipeline } from '../dag/pipeline.js';
import { planPipeline } from '../dag/planner.js';
import { layoutOf, nodeFilesSql } from '../store/layout.js';
import { assertExpression } from '../store/sql-guard.js';
import { FileLock } from '../store/lock.js';
import { redactDeep, redactUrl } from '../util/fetch.js';
import { connect, queryRows, sqlString, writeParquet } from '../store/duck.js';
import { sha256, sha256File } from '../util/hash.js';
import { readManifest } from '../store/markers.js';
import { releaseSources, type ReleaseSources } from './plan.js';
import { IMAGE_INDEX, type FileRecord, type ReleaseManifest } from '../store/release-manifest.js';
import type { BinState } from '../store/markers.js';
import { MiroError } from '../errors.js';
import { datasetCard, hfFeatures } from './card.js';
import { writeWebdataset } from './webdataset.js';
import { resizeEncoded } from '../util/image.js';
import { contactSheet } from '../synth/contact-sheet.js';

export const RELEASE_ROW_GROUP = 4096;

export interface ReleaseOptions {
  out: string;
  where?: string;
  images?: 'embed' | 'path';
  includeFailed?: boolean;
  shardRows?: number;
  bins?: string;
  /** The license for the card: an SPDX id (cc-by-4.0) or other:<name>; null leaves it unset. */
  license?: string | null;
  /** Parquet parts (the default), or webdataset tar shards in the official trainer's layout. */
  format?: 'parquet' | 'webdataset';
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** The file extension an image's first bytes announce (its real format), in SQL. */
export function imageExtensionSql(bytes: string): string {
  const head = (a: number, b: number) => `hex((${bytes})[${a}:${b}])`;
  return `CASE WHEN ${head(1, 4)} = '89504E47' THEN 'png' WHEN ${head(1, 3)} = 'FFD8FF' THEN 'jpg'
    WHEN ${head(1, 4)} = '52494646' AND ${head(9, 12)} = '57454250' THEN 'webp' WHEN ${head(1, 4)} = '47494638' THEN 'gif'
    WHEN ${head(1, 4)} IN ('49492A00', '4D4D002A') THEN 'tif' ELSE 'bin' END`;
}

/** The release's rows, as SQL over the committed shards: one row per sample, joined by id. */
export function releaseSql(pipeline: Pipeline, s: ReleaseSources, images: 'embed' | 'path'): string {
  const files = (node: string) => nodeFilesSql(pipeline, node);
  const joins: string[] = [];
  const cols: string[] = ['src.id AS id'];
  const failed: string[] = ["src.status IS NOT NULL AND src.status <> 'ok'"];
  const hasStatus = s.source.columns.some((c) => c.name === 'status');
  cols.push(
    images === 'embed'
      ? `src."${s.image.column}" AS image`
      : `'images/' || src.id || '.' || ${imageExtensionSql(`src."${s.image.column}"`)} AS image`,
  );
  cols.push(s.caption ? `src.caption AS caption` : 'NULL::VARCHAR AS caption');
  for (const [alias, ref] of [
    ['long', s.longCaption],
    ['short', s.shortCaption],
  ] as const) {
    if (!ref) {
      cols.push(`NULL::VARCHAR AS caption_${alias}`);
      continue;
    }
    joins.push(`LEFT JOIN read_parquet(${files(ref.node)}) c_${alias} ON c_${alias}.id = src.id`);
    cols.push(`CASE WHEN c_${alias}.status = 'ok' THEN c_${alias}.caption END AS caption_${alias}`);
  }
  joins.push(`LEFT JOIN read_parquet(${files(s.bins.name)}) b ON b.id = src.id`);
  s.rewards.forEach((r, i) => {
    joins.push(`LEFT JOIN read_parquet(${files(r.score.node)}) r${i} ON r${i}.id = src.id`);
    cols.push(
      `CASE WHEN r${i}.status = 'ok' THEN r${i}."${r.score.column}" END AS "${r.name}_score"`,
      `b."${r.name}_bin"`,
      `b."${r.name}_target"`,
    );
    failed.push(`r${i}.status IS DISTINCT FROM 'ok'`);
  });
  const status = `CASE WHEN ${hasStatus ? failed.join(' OR ') : failed.slice(1).join(' OR ')} THEN 'failed' ELSE 'ok' END AS status`;
  return `SELECT ${cols.join(', ')}, ${status} FROM read_parquet(${files(s.source.name)}) src ${joins.join(' ')}`;
}

export async function cutRelease(pipeline: Pipeline, opts: ReleaseOptions): Promise<ReleaseManifest> {
  // One writer per --out: a second release to the same place at the same time fails clearly.
  await fs.mkdir(path.dirname(path.resolve(opts.out)), { recursive: true });
  const lock = await FileLock.acquire(`${path.resolve(opts.out)}.lock`, `release to ${opts.out}`);
  try {
    return await cut(pipeline, opts);
  } finally {
    await lock.release();
  }
}

async function cut(pipeline: Pipeline, opts: ReleaseOptions): Promise<ReleaseManifest> {
  const images = opts.images ?? 'embed';
  const format = opts.format ?? 'parquet';
  if (format === 'webdataset' && images === 'path')
    throw new MiroError('--format webdataset keeps each image in its sample: drop --images path');
  const shardRows = opts.shardRows ?? 10_000;
  const sources = releaseSources(pipeline, { bins: opts.bins });
  // Every input part is re-hashed against its marker first: a release never reads damaged data.
  const plans = await planPipeline(pipeline, { verify: true });
  const needed = new Set(
    [
      sources.source.name,
      sources.bins.name,
      ...sources.rewards.map((r) => r.score.node),
      sources.longCaption?.node,
      sources.shortCaption?.node,
    ].filter((x): x is string => !!x),
  );
  for (const n of needed) {
    for (const [shard, why] of plans.get(n)!.todo)
      if (/^(shard file|table \w+) (corrupted|missing)/.test(why))
        throw new MiroError(`node ${n}, shard ${shard}: ${why}; miro run --verify re-makes it`);
  }
  for (const n of needed) {
    const p = plans.get(n)!;
    if (p.todo.size)
      throw new MiroError(`node ${n} is not complete (${p.reason}); run the pipeline first (miro run --verify re-makes damaged shards)`);
  }
  const binManifest = await readManifest(layoutOf(pipeline, sources.bins.name));
  const edges = binManifest!.state as BinState;

  const existing = await fs.stat(opts.out).catch(() => null);
  if (existing && !existing.isDirectory()) throw new MiroError(`${opts.out} exists and is a file; releases are never written over files`);
  if (existing && (await fs.readdir(opts.out)).length)
    throw new MiroError(`${opts.out} exists and is not empty; releases are never overwritten`);
  const tmp = `${opts.out.replace(/\/$/, '')}.tmp-${process.pid}`;
  await removeAbandonedTemporaries(opts.out);
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(path.join(tmp, 'data'), { recursive: true });
  const conn = await connect();
  try {
    await conn.run(`CREATE TEMP TABLE release_all AS ${releaseSql(pipeline, sources, images)}`);
    const count = async (where: string) => Number((await queryRows(conn, `SELECT count(*) AS n FROM release_all WHERE ${where}`))[0]!.n);
    const excludedFailed = opts.includeFailed ? 0 : await count(`status <> 'ok'`);
    let where = opts.includeFailed ? 'true' : `status = 'ok'`;
    let excludedByWhere = 0;
    if (opts.where) {
      await assertExpression(conn, opts.where, '--where');
      try {
        excludedByWhere = (await count(where)) - (await count(`${where} AND (${opts.where})`));
      } catch (err) {
        throw new MiroError(`--where ${JSON.stringify(opts.where)}: ${(err as Error).message.split('\n')[0]}`);
      }
      where = `${where} AND (${opts.where})`;
    }
    await conn.run(`CREATE TEMP TABLE release_rows AS SELECT row_number() OVER (ORDER BY id) - 1 AS rn, * FROM release_all WHERE ${where}`);
    const rows = Number((await queryRows(conn, 'SELECT count(*) AS n FROM release_rows'))[0]!.n);
    if (rows === 0)
      throw new MiroError(
        opts.where
          ? `--where ${JSON.stringify(opts.where)} matches none of the ${excludedByWhere} rows: nothing to release`
          : 'no row to release (every row failed; --include-failed releases them)',
      );
    const shards = Math.max(1, Math.ceil(rows / shardRows));
    const files: FileRecord[] = [];
    if (format === 'webdataset') files.push(...(await writeWebdataset(conn, pipeline, sources, tmp, rows, shardRows)));
    else {
      // Embedded images are the struct of bytes and path that Hugging Face `datasets` reads as an
      // Image, and the schema metadata says so (with every other column's feature), so
      // load_dataset("parquet", ...) gives images, not bytes.
      const select = `SELECT * EXCLUDE (rn)${images === 'embed' ? ` REPLACE (struct_pack(bytes := image, path := id || '.' || ${imageExtensionSql('image')}) AS image)` : ''} FROM release_rows`;
      const features = hfFeatures(await queryRows(conn, `SELECT column_name AS name, column_type AS type FROM (DESCRIBE ${select})`));
      const metadata = sqlString(JSON.stringify({ info: { features } }));
      for (let i = 0; i < shards; i++) {
        const rel = `data/train-${String(i).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.parquet`;
        await conn.run(
          `COPY (${select} WHERE rn >= ${i * shardRows} AND rn < ${(i + 1) * shardRows} ORDER BY id) TO ${sqlString(path.join(tmp, rel))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${RELEASE_ROW_GROUP}, KV_METADATA {huggingface: ${metadata}})`,
        );
        files.push(await describeFile(conn, tmp, rel));
      }
    }
    if (images === 'path') {
      // Each image under the name the rows give it (its real extension), hashed into images.parquet.
      await fs.mkdir(path.join(tmp, 'images'), { recursive: true });
      const imgs = await queryRows(
        conn,
        `SELECT r.image AS file, src."${sources.image.column}" AS bytes FROM release_rows r JOIN read_parquet(${nodeFilesSql(pipeline, sources.source.name)}) src USING (id) ORDER BY r.id`,
      );
      const index = { path: [] as string[], sha256: [] as string[], bytes: [] as number[] };
      for (const r of imgs) {
        const bytes = r.bytes as Uint8Array;
        await fs.writeFile(path.join(tmp, String(r.file)), bytes);
        index.path.push(String(r.file));
        index.sha256.push(sha256(bytes));
        index.bytes.push(bytes.length);
      }
      await writeParquet(
        [
          { name: 'path', type: 'VARCHAR' },
          { name: 'sha256', type: 'VARCHAR' },
          { name: 'bytes', type: 'BIGINT' },
        ],
        [{ rows: index.path.length, columns: index }],
        path.join(tmp, IMAGE_INDEX),
        { orderBy: 'path', context: 'release images' },
      );
      files.push(await describeFile(conn, tmp, IMAGE_INDEX));
    }
    const examples = await writeExampleGrid(conn, pipeline, sources, path.join(tmp, EXAMPLES));
    if (examples) {
      const file = path.join(tmp, EXAMPLES);
      files.push({ path: EXAMPLES, sha256: await sha256File(file), bytes: (await fs.stat(file)).size, rows: examples, schema: [] });
    }
    const edgesRel = 'bin_edges.parquet';
    await conn.run(
      `COPY (SELECT * FROM read_parquet(${sqlString(path.join(layoutOf(pipeline, sources.bins.name).dir, binManifest!.tables.bin_edges!.file))}) ORDER BY reward, bin) TO ${sqlString(path.join(tmp, edgesRel))} (FORMAT parquet, COMPRESSION zstd)`,
    );
    files.push(await describeFile(conn, tmp, edgesRel));

    const duckdb = String((await queryRows(conn, 'SELECT version() AS v'))[0]!.v);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
    const manifest: ReleaseManifest = {
      format: format === 'parquet' && images === 'embed' ? 'miro-release/2' : 'miro-release/1',
      name: path.basename(opts.out.replace(/\/$/, '')),
      tool: { name: pkg.name, version: pkg.version, node: process.version, duckdb, git_commit: gitCommit() },
      pipeline: {
        file: path.relative(process.cwd(), pipeline.file),
        name: pipeline.settings.name,
        seed: pipeline.settings.seed,
        yaml: redactUrl(pipeline.text),
        nodes: Object.fromEntries(
          [...needed].sort().map((n) => {
            const p = plans.get(n)!;
            return [
              n,
              {
                kind: pipeline.nodes.get(n)!.stage.kind,
                fingerprint: p.fingerprint,
                params: redactDeep(pipeline.nodes.get(n)!.params),
                identity: p.parts.identity,
              },
            ];
          }),
        ),
      },
      rewards: sources.rewards.map((r) => r.name),
      images,
      layout: format,
      license: opts.license ?? null,
      filter: { where: opts.where ?? null, include_failed: !!opts.includeFailed },
      counts: { rows, excluded_failed: excludedFailed, excluded_by_where: excludedByWhere },
      bin_edges: edges,
      files,
    };
    await fs.writeFile(path.join(tmp, 'release.json'), JSON.stringify(manifest, null, 1) + '\n');
    await fs.writeFile(path.join(tmp, 'README.md'), await datasetCard(conn, manifest));
    await fs.mkdir(path.dirname(path.resolve(opts.out)), { recursive: true });
    await fs.rm(opts.out, { recursive: true, force: true });
    await fs.rename(tmp, opts.out);
    return manifest;
  } finally {
    conn.closeSync();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** `OUT.tmp-PID` folders whose process is gone (a release killed with -9); run under the release's lock. */
async function removeAbandonedTemporaries(out: string): Promise<void> {
  const base = path.basename(out.replace(/\/$/, ''));
  const dir = path.dirname(path.resolve(out));
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const m = /^(.*)\.tmp-(\d+)$/.exec(name);
    const pid = Number(m?.[2]);
    if (!m || m[1] !== base || pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** The card's image grid: a few released images, as a PNG beside the data. */
export const EXAMPLES = 'examples.png';
const EXAMPLE_COUNT = 16;
const EXAMPLE_SIZE = 64;

/**
 * Up to 16 of the released images (the first by md5 of their ids, so the same release gives the
 * same grid), each resized to 64 x 64 (cover), in a grid without text (fonts differ between
 * machines; the bytes must not). Returns how many it drew: 0 when no image decodes.
 */
async function writeExampleGrid(
  conn: Awaited<ReturnType<typeof connect>>,
  pipeline: Pipeline,
  s: ReleaseSources,
  file: string,
): Promise<number> {
  const rows = await queryRows(
    conn,
    `SELECT src."${s.image.column}" AS bytes FROM (SELECT id FROM release_rows ORDER BY md5(id), id LIMIT ${EXAMPLE_COUNT}) r
     JOIN read_parquet(${nodeFilesSql(pipeline, s.source.name)}) src USING (id) ORDER BY md5(r.id), r.id`,
  );
  const tiles: Float32Array[] = [];
  for (const r of rows) {
    if (!(r.bytes instanceof Uint8Array)) continue;
    const rgb = await resizeEncoded(r.bytes, EXAMPLE_SIZE, { fit: 'cover', position: 'centre', kernel: 'cubic' }).catch(() => null);
    if (rgb) tiles.push(Float32Array.from(rgb));
  }
  if (!tiles.length) return 0;
  await fs.writeFile(file, await contactSheet(tiles, EXAMPLE_SIZE, { columns: Math.min(8, tiles.length), scale: 2 }));
  return tiles.length;
}

export async function describeFile(conn: Awaited<ReturnType<typeof connect>>, root: string, rel: string): Promise<FileRecord> {
  const file = path.join(root, rel);
  const schema = (
    await queryRows(conn, `SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM read_parquet(${sqlString(file)}))`)
  ).map((r) => ({ name: String(r.name), type: String(r.type) }));
  const rows = Number((await queryRows(conn, `SELECT count(*) AS n FROM read_parquet(${sqlString(file)})`))[0]!.n);
  return { path: rel, sha256: await sha256File(file), bytes: (await fs.stat(file)).size, rows, schema };
}
