// `ingest`: reads images from a folder with sidecar .txt captions (img2dataset's "files"
// layout), from webdataset tar shards (util/webdataset.ts), or from a Parquet, CSV or JSONL
// manifest of paths (or http(s) URLs) and captions. Over 300 lines because the three kinds of
// source share one listing, one id rule and one row loop, which read best side by side.
//
// prepare() lists every source once, in sorted order, gives each a stable id and a shard, and
// records that listing as the node's `sources` table. Ids: the first 16 hex digits of the
// SHA-256 of the image bytes. The same bytes seen again are kept and disambiguated with a
// suffix (`<hash>-2`, `-3`, ... in listing order), so duplicates are visible, not silently
// dropped. A file that cannot be read gets `src-<hash of its path>`; a URL gets `url-<hash>`.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { p } from './params.js';
import { defineStage, type Value } from './types.js';
import { MiroError, NotAFileError, StageError, errorMessage } from '../errors.js';
import { sha256, sha256File } from '../util/hash.js';
import { queryRows, sqlString } from '../store/duck.js';
import { fetchBytes, defaultRetry } from '../util/fetch.js';
import { readTarMembers, readTarSamples, tarMember } from '../util/webdataset.js';

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp']);

interface Source {
  source: string;
  caption: string | null;
}

const isUrl = (s: string) => /^https?:\/\//.test(s);

async function walk(dir: string, root: string, out: string[]): Promise<void> {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, root, out);
    else if (IMAGE_EXT.has(path.extname(e.name).toLowerCase())) out.push(path.relative(root, full));
  }
}

async function listFolderFiles(root: string): Promise<string[]> {
  const files: string[] = [];
  await walk(root, root, files);
  return files.sort();
}

/** The tar shards of a webdataset: the file itself, or a folder's `*.tar` (not recursive), sorted. */
async function listTars(p: string): Promise<string[]> {
  if (p.endsWith('.tar')) return [p];
  const names = await fs.readdir(p).catch(() => [] as string[]);
  return names
    .filter((n) => n.endsWith('.tar'))
    .sort()
    .map((n) => path.join(p, n));
}

async function listFolder(root: string): Promise<Source[]> {
  const files = await listFolderFiles(root);
  return Promise.all(
    files.map(async (rel) => {
      const txt = path.join(root, rel.slice(0, -path.extname(rel).length) + '.txt');
      // A FIFO or device named like a sidecar would block the read forever: refused, naming it.
      const st = await fs.stat(txt).catch(() => null);
      if (st && !st.isFile())
        throw new MiroError(`${txt}: a sidecar caption must be a regular file (this is ${st.isFIFO() ? 'a FIFO' : 'not a file'})`);
      const caption = st ? (await fs.readFile(txt, 'utf8')).trim() : null;
      return { source: path.join(root, rel), caption };
    }),
  );
}

async function listManifest(
  ctx: { duck: import('@duckdb/node-api').DuckDBConnection },
  file: string,
  format: string,
  pathColumn: string,
  captionColumn: string,
): Promise<Source[]> {
  const reader = format === 'parquet' ? 'read_parquet' : format === 'csv' ? 'read_csv' : 'read_json';
  let rows: Record<string, Value>[];
  try {
    rows = await queryRows(ctx.duck, `SELECT * FROM ${reader}(${sqlString(file)})`);
  } catch (err) {
    throw new StageError('ingest', undefined, `cannot read manifest ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const base = path.dirname(file);
  return rows
    .map((r, i) => {
      const src = r[pathColumn];
      if (typeof src !== 'string' || !src)
        throw new StageError('ingest', undefined, `${file}, row ${i + 1}: column "${pathColumn}" is missing or empty`);
      const cap = r[captionColumn];
      return { source: isUrl(src) || path.isAbsolute(src) ? src : path.join(base, src), caption: typeof cap === 'string' ? cap : null };
    })
    .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}

async function detectFormat(file: string, isDir: boolean, node: string): Promise<'folder' | 'webdataset' | 'parquet' | 'csv' | 'jsonl'> {
  // A folder of tar shards and no loose images is a webdataset.
  if (isDir) return (await listTars(file)).length > 0 && (await listFolderFiles(file)).length === 0 ? 'webdataset' : 'folder';
  const ext = path.extname(file).toLowerCase();
  if (ext === '.tar') return 'webdataset';
  if (ext === '.parquet') return 'parquet';
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.json' || ext === '.ndjson') return 'jsonl';
  throw new StageError(node, undefined, `with.path: cannot tell the format of ${file}; set with.format`);
}

export const ingest = defineStage({
  kind: 'ingest',
  version: 1,
  doc: 'Images from a folder (with sidecar .txt captions), webdataset tar shards or a manifest, decoded, hashed and sharded.',
  mode: 'source',
  params: {
    path: p.string({
      doc: 'a folder of images, webdataset tar shards (a .tar or a folder of them), or a .parquet/.csv/.jsonl manifest (relative to the working directory)',
    }),
    format: p.enum(['auto', 'folder', 'webdataset', 'parquet', 'csv', 'jsonl'] as const, {
      doc: 'how to read path (auto: a .tar or a folder of *.tar is a webdataset)',
      default: 'auto',
    }),
    path_column: p.string({ doc: 'manifest column with the image path or URL', default: 'path' }),
    caption_column: p.string({ doc: 'manifest column with the caption', default: 'caption' }),
    shards: p.int({ doc: 'shard count (default: settings.shards)', min: 1, default: 0 }),
    concurrency: p.int({ doc: 'images read and decoded at once', min: 1, default: 16 }),
    timeout_ms: p.int({ doc: 'per-attempt timeout for URLs', min: 1, default: defaultRetry.timeoutMs }),
    retries: p.int({ doc: 'retries for URLs on timeouts, 429 and 5xx', min: 0, default: defaultRetry.retries }),
  },
  needs: { min: 0, max: 0 },
  rowsCanFail: true,
  columns: () => [
    { name: 'source', type: 'VARCHAR' },
    { name: 'caption', type: 'VARCHAR' },
    { name: 'image', type: 'BLOB' },
    { name: 'width', type: 'INTEGER' },
    { name: 'height', type: 'INTEGER' },
    { name: 'format', type: 'VARCHAR' },
  ],
  sourceShards: (params, settings) => params.shards || settings.shards,

  // The listing and the sidecar captions are part of the identity: adding or removing images,
  // or editing a caption, re-ingests (and a caption node's request cache, keyed by the prompt as
  // sent, asks again only for the edited rows). Image contents are not, so replacing a broken
  // image and running --retry-failed redoes just that row.
  async identity(params) {
    const st = await fs.stat(params.path).catch(() => undefined);
    if (!st) return { missing: params.path };
    if (!st.isDirectory()) return { manifest: params.path, sha256: await sha256File(params.path) };
    const tars = await listTars(params.path);
    if (tars.length && (params.format === 'webdataset' || (params.format === 'auto' && (await listFolderFiles(params.path)).length === 0)))
      return {
        webdataset: params.path,
        shards: await Promise.all(tars.map(async (t) => `${path.basename(t)}\t${(await fs.stat(t)).size}\t${(await fs.stat(t)).mtimeMs}`)),
      };
    const files: string[] = [];
    await walk(params.path, params.path, files);
    files.sort();
    // A sidecar's size and modification time stand for its text (one stat, not a read, per image).
    const sidecars = await Promise.all(
      files.map(async (rel) => {
        const st = await fs.stat(path.join(params.path, rel.slice(0, -path.extname(rel).length) + '.txt')).catch(() => null);
        return st ? `${rel}\t${st.size}\t${st.mtimeMs}` : rel;
      }),
    );
    return { folder: params.path, files: sha256(files.join('\n')), captions: sha256(sidecars.join('\n')) };
  },

  async prepare(ctx) {
    const { params } = ctx;
    const st = await fs.stat(params.path).catch(() => undefined);
    if (!st) throw new StageError(ctx.node, undefined, `with.path: ${params.path} does not exist`);
    const format = params.format === 'auto' ? await detectFormat(params.path, st.isDirectory(), ctx.node) : params.format;
    const limit = pLimit(params.concurrency);
    let sources: Source[];
    let hashes: string[];
    if (format === 'webdataset') {
      // One pass over each shard: its samples, and each image's hash as it streams by.
      const hashOf = new Map<string, string>();
      sources = [];
      for (const tar of await listTars(params.path))
        sources.push(...(await readTarSamples(tar, (source, bytes) => hashOf.set(source, sha256(bytes).slice(0, 16)))));
      hashes = sources.map((s) => hashOf.get(s.source)!);
    } else {
      sources =
        format === 'folder'
          ? await listFolder(params.path)
          : await listManifest(ctx, params.path, format, params.path_column, params.caption_column);
      hashes = await Promise.all(
        sources.map((s) =>
          limit(async () => {
            if (isUrl(s.source)) return `url-${sha256(s.source).slice(0, 12)}`;
            return readRegularFile(s.source).then(
              (b) => sha256(b).slice(0, 16),
              () => `src-${sha256(s.source).slice(0, 12)}`,
            );
          }),
        ),
      );
    }
    const shards = params.shards || ctx.pipeline.shards;
    const seen = new Map<string, number>();
    const ids = hashes.map((h) => {
      const n = (seen.get(h) ?? 0) + 1;
      seen.set(h, n);
      return n === 1 ? h : `${h}-${n}`;
    });
    const shardOf = sources.map((_, i) => Math.floor((i * shards) / Math.max(1, sources.length)));
    await ctx.writeTable(
      'sources',
      [
        { name: 'shard', type: 'INTEGER' },
        { name: 'id', type: 'VARCHAR' },
        { name: 'source', type: 'VARCHAR' },
        { name: 'caption', type: 'VARCHAR' },
      ],
      [
        {
          rows: sources.length,
          columns: {
            shard: Int32Array.from(shardOf),
            id: ids,
            source: sources.map((s) => s.source),
            caption: sources.map((s) => s.caption),
          },
        },
      ],
    );
    ctx.log(`${sources.length} images listed into ${shards} shards (${sources.length - seen.size} duplicate contents)`);
    return { format, count: sources.length };
  },

  async *run(ctx) {
    const { params } = ctx;
    let rows = await queryRows(
      ctx.duck,
      `SELECT id, source, caption FROM ${ctx.readTable('sources')} WHERE shard = ${ctx.shard} ORDER BY id`,
    );
    if (ctx.retry) {
      const again = new Set(ctx.retry.rows.map((r) => r.source));
      rows = rows.filter((r) => again.has(r.source));
    }
    const sharp = (await import('sharp')).default;
    const limit = pLimit(params.concurrency);
    const policy = { ...defaultRetry, timeoutMs: params.timeout_ms, retries: params.retries };
    const BATCH = 256;
    for (let start = 0; start < rows.length; start += BATCH) {
      const part = rows.slice(start, start + BATCH);
      // Webdataset members of this batch: one pass over each tar they come from.
      const fromTars = new Map<string, Uint8Array>();
      const byTar = new Map<string, Set<string>>();
      for (const r of part) {
        const t = tarMember(String(r.source));
        if (t) byTar.set(t.tar, (byTar.get(t.tar) ?? new Set()).add(t.member));
      }
      for (const [tar, members] of byTar)
        for (const [m, b] of await readTarMembers(tar, members).catch(() => new Map<string, Uint8Array>())) fromTars.set(`${tar}#${m}`, b);
      const out = await Promise.all(
        part.map((r) =>
          limit(async () => {
            const source = String(r.source);
            let bytes: Uint8Array;
            try {
              if (tarMember(source)) {
                const b = fromTars.get(source);
                if (!b) throw new Error('member not found in its tar shard (or the shard is unreadable)');
                bytes = b;
              } else bytes = isUrl(source) ? await fetchBytes(source, policy) : await readRegularFile(source);
            } catch (err) {
              return {
                id: String(r.id),
                source,
                status: isUrl(source) ? 'fetch_error' : err instanceof NotAFileError ? 'not_a_file' : 'read_error',
                error: `${source}: ${errorMessage(err)}`,
              };
            }
            try {
              // A full decode, not just the header: truncated files must fail here.
              const { info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
              const meta = await sharp(bytes).metadata();
              const id = String(r.id).startsWith('src-') ? sha256(bytes).slice(0, 16) : String(r.id);
              return {
                id,
                source,
                image: bytes,
                width: info.width,
                height: info.height,
                format: meta.format ?? null,
                status: 'ok',
                error: null,
              };
            } catch (err) {
              return { id: String(r.id), source, status: 'decode_error', error: `${source}: ${errorMessage(err)}` };
            }
          }),
        ),
      );
      ctx.progress(start + part.length, rows.length);
      yield {
        rows: out.length,
        columns: {
          id: out.map((o) => o.id),
          source: out.map((o) => o.source),
          caption: part.map((r) => (r.caption as string | null) ?? null),
          image: out.map((o) => ('image' in o ? (o.image as Uint8Array) : null)),
          width: out.map((o) => ('width' in o ? (o.width as number) : null)),
          height: out.map((o) => ('height' in o ? (o.height as number) : null)),
          format: out.map((o) => ('format' in o ? (o.format as string | null) : null)),
          status: out.map((o) => o.status),
          error: out.map((o) => o.error),
        },
      };
    }
  },
});

/** A local file's bytes; a FIFO, socket or device (which could block a read forever) is refused. */
async function readRegularFile(file: string): Promise<Uint8Array> {
  const st = await fs.stat(file);
  if (!st.isFile())
    throw new NotAFileError(
      `not a regular file (${st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a folder' : 'a device or socket'}); refused`,
    );
  return fs.readFile(file);
}
