// A release as webdataset tar shards, in the layout the official MIRO trainer reads: per sample
// `<id>.jpg` (the image's own bytes; PIL reads them by content), `<id>.txt` (the real caption),
// `<id>.json` (the scores under the official code's keys and scalings, the synthetic captions, and
// this pipeline's bins and targets under "miro"), and, when the pipeline computed them, the VAE
// latents `vae_embeddings_{mean,std}_<res>.npy` and the text encoder's states
// `<encoder>_embeddings.npy` / `synthetic_<encoder>_embeddings.npy` (float16, caption tokens only).

import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Pipeline } from '../dag/pipeline.js';
import { layoutOf, nodeFilesSql } from '../store/layout.js';
import { readManifest } from '../store/markers.js';
import { queryBatches } from '../store/duck.js';
import type { ColumnRef } from '../stages/types.js';
import type { FileRecord } from '../store/release-manifest.js';
import { sha256File } from '../util/hash.js';
import { npy } from '../util/npy.js';
import { TarWriter } from '../util/tar.js';
import { MiroError } from '../errors.js';
import type { ReleaseSources } from './plan.js';
import { promises as fs } from 'node:fs';

/** The official code's JSON key and scaling of each of the paper's rewards (its scores are stored in about [0, 1]). */
export const OFFICIAL_SCORES: Record<string, { key: string; scale: (x: number) => number }> = {
  aesthetic: { key: 'aesthetic_score', scale: (x) => x / 10 },
  hpsv2: { key: 'hpsv2_score', scale: (x) => x },
  imagereward: { key: 'image_reward_score', scale: (x) => (x + 2) / 4 },
  pickscore: { key: 'pick_a_score_score', scale: (x) => x / 100 },
  sciscore: { key: 'sciscore_score', scale: (x) => x / 100 },
  vqascore: { key: 'vqa_score', scale: (x) => x },
  jinaclip: { key: 'clip_score', scale: (x) => x },
};

interface Extra {
  /** The tar member's suffix after `<id>.`, e.g. vae_embeddings_mean_256.npy. */
  member: string;
  node: string;
  column: string;
  /** Shape of one value given its byte length (float16). */
  shape: (bytes: number) => number[];
}

/** The latents and text_embed nodes over this release's images and captions, as tar members. */
async function extras(pipeline: Pipeline, s: ReleaseSources): Promise<Extra[]> {
  const out: Extra[] = [];
  const reads = (ref: unknown, node: string | null) => !!ref && (ref as ColumnRef).node === node;
  for (const spec of pipeline.nodes.values()) {
    const state = (await readManifest(layoutOf(pipeline, spec.name)))?.state as Record<string, unknown> | undefined;
    if (spec.stage.kind === 'latents' && reads((spec.params as { image: ColumnRef }).image, s.image.node) && state) {
      const shape = state.shape as number[];
      for (const which of ['mean', 'std'])
        out.push({
          member: `vae_embeddings_${which}_${state.resolution}.npy`,
          node: spec.name,
          column: `latent_${which}`,
          shape: () => shape,
        });
    }
    if (spec.stage.kind === 'text_embed' && state) {
      const caption = (spec.params as { caption: ColumnRef }).caption;
      const real = s.caption !== null && caption.node === s.caption.node && caption.column === s.caption.column;
      const synthetic = s.longCaption !== null && caption.node === s.longCaption.node;
      if (!real && !synthetic) continue;
      const name = `${String(state.encoder).replace(/[^A-Za-z0-9]+/g, '_')}_embeddings.npy`;
      const dim = Number(state.embed_dim);
      out.push({
        member: real ? name : `synthetic_${name}`,
        node: spec.name,
        column: 'embedding',
        shape: (bytes) => [bytes / 2 / dim, dim],
      });
    }
  }
  const seen = new Set<string>();
  for (const e of out) {
    if (seen.has(e.member))
      throw new MiroError(
        `webdataset release: two nodes would write ${e.member} (one latents node per resolution, one text_embed node per caption)`,
      );
    seen.add(e.member);
  }
  return out;
}

/** Writes `release_rows` as tar shards of `shardRows` samples under `root/data/`, ordered by id. */
export async function writeWebdataset(
  conn: DuckDBConnection,
  pipeline: Pipeline,
  s: ReleaseSources,
  root: string,
  rows: number,
  shardRows: number,
): Promise<FileRecord[]> {
  const ex = await extras(pipeline, s);
  const files = (node: string) => nodeFilesSql(pipeline, node);
  const joins = ex.map((e, i) => `LEFT JOIN read_parquet(${files(e.node)}) x${i} ON x${i}.id = r.id AND x${i}.status = 'ok'`).join(' ');
  const cols = ex.map((e, i) => `x${i}."${e.column}" AS "x${i}"`).join(', ');
  const synthetic = new Map(
    s.rewards.map((r) => {
      const caption = (pipeline.nodes.get(r.score.node)!.params as { caption?: ColumnRef | null }).caption;
      return [r.name, caption ? caption.node !== s.source.name : null] as const;
    }),
  );
  const shards = Math.max(1, Math.ceil(rows / shardRows));
  const out: FileRecord[] = [];
  for (let i = 0; i < shards; i++) {
    const rel = `data/train-${String(i).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.tar`;
    const file = path.join(root, rel);
    const tar = await TarWriter.create(file);
    let count = 0;
    const sql = `SELECT r.*${cols ? `, ${cols}` : ''} FROM release_rows r ${joins} WHERE r.rn >= ${i * shardRows} AND r.rn < ${(i + 1) * shardRows} ORDER BY r.id`;
    for await (const batch of queryBatches(conn, sql, 256)) {
      for (let k = 0; k < batch.rows; k++) {
        const get = (c: string) => batch.columns[c]![k] ?? null;
        const id = String(get('id'));
        if (id.includes('.') || id.includes('/'))
          throw new MiroError(
            `webdataset release: id ${JSON.stringify(id)} has a "." or "/", which webdataset reads as part of the member name`,
          );
        const json: Record<string, unknown> = {};
        const miro: Record<string, Record<string, unknown>> = { scores: {}, bins: {}, targets: {} };
        for (const r of s.rewards) {
          const score = get(`${r.name}_score`) as number | null;
          miro.scores![r.name] = score;
          miro.bins![r.name] = get(`${r.name}_bin`);
          miro.targets![r.name] = get(`${r.name}_target`);
          if (score === null) continue;
          const official = OFFICIAL_SCORES[r.name];
          const key = official?.key ?? `${r.name}_score`;
          const value = official ? official.scale(score) : score;
          // As the official code: a score of the real caption under its key, of a synthetic one under
          // synthetic_<key>; an image-only score under both.
          const syn = synthetic.get(r.name);
          if (syn === null || syn === false) json[key] = value;
          if (syn === null || syn === true) json[`synthetic_${key}`] = value;
        }
        json.synthetic_caption = get('caption_long');
        json.short_synthetic_caption = get('caption_short');
        json.miro = miro;
        await tar.add(`${id}.jpg`, get('image') as Uint8Array);
        await tar.add(`${id}.txt`, Buffer.from(String(get('caption') ?? ''), 'utf8'));
        await tar.add(`${id}.json`, Buffer.from(JSON.stringify(json), 'utf8'));
        for (const [j, e] of ex.entries()) {
          const v = get(`x${j}`) as Uint8Array | null;
          if (v) await tar.add(`${id}.${e.member}`, npy(v, '<f2', e.shape(v.length)));
        }
        count++;
      }
    }
    await tar.close();
    const members = ['jpg', 'txt', 'json', ...ex.map((e) => e.member)];
    out.push({
      path: rel,
      sha256: await sha256File(file),
      bytes: (await fs.stat(file)).size,
      rows: count,
      schema: members.map((m) => ({ name: m, type: m.endsWith('.npy') ? 'npy float16' : m === 'jpg' ? 'image bytes' : m })),
    });
  }
  return out;
}
