// Reading webdataset tar shards (img2dataset's and the official MIRO code's layout): members that
// share a key (the member name up to the first dot of its base name) are one sample, e.g.
// `000123.jpg`, `000123.txt` and `000123.json`. An image member is named `TAR#MEMBER`.

import { tarEntries } from './tar.js';

export const WEBDATASET_IMAGE_EXT = ['jpg', 'jpeg', 'png', 'webp'];

export interface TarSample {
  /** `TAR#MEMBER` of the sample's image. */
  source: string;
  /** The `txt` member, else the `caption` field of the `json` member, else null. */
  caption: string | null;
}

/** `dir/000123.jpg` -> [`dir/000123`, `jpg`]. */
export function splitKey(name: string): [string, string] {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot < 0 ? [name, ''] : [name.slice(0, dot), name.slice(dot + 1).toLowerCase()];
}

export const tarMember = (source: string): { tar: string; member: string } | null => {
  const i = source.lastIndexOf('.tar#');
  return i < 0 ? null : { tar: source.slice(0, i + 4), member: source.slice(i + 5) };
};

/**
 * The samples of one shard, in member order, with each image's bytes passed to `onImage` as it is
 * read (so a caller can hash them without holding the shard in memory).
 */
export async function readTarSamples(tar: string, onImage?: (source: string, bytes: Uint8Array) => void): Promise<TarSample[]> {
  const samples = new Map<string, { image: string | null; txt: string | null; json: string | null }>();
  const keep = (name: string) => {
    const ext = splitKey(name)[1];
    return ext === 'txt' || ext === 'json' || (onImage !== undefined && WEBDATASET_IMAGE_EXT.includes(ext));
  };
  for await (const m of tarEntries(tar, keep)) {
    const [key, ext] = splitKey(m.name);
    const s = samples.get(key) ?? { image: null, txt: null, json: null };
    samples.set(key, s);
    if (WEBDATASET_IMAGE_EXT.includes(ext) && s.image === null) {
      s.image = m.name;
      if (m.data) onImage?.(`${tar}#${m.name}`, m.data);
    } else if (ext === 'txt' && m.data) s.txt = Buffer.from(m.data).toString('utf8').trim();
    else if (ext === 'json' && m.data) s.json = Buffer.from(m.data).toString('utf8');
  }
  const out: TarSample[] = [];
  for (const s of samples.values()) {
    if (s.image === null) continue;
    let caption = s.txt;
    if (caption === null && s.json !== null) {
      try {
        const c = (JSON.parse(s.json) as { caption?: unknown }).caption;
        caption = typeof c === 'string' ? c : null;
      } catch {
        caption = null; // an unreadable json member: no caption, the image still counts
      }
    }
    out.push({ source: `${tar}#${s.image}`, caption });
  }
  return out;
}

/** The bytes of the named members of one tar, read in one pass over its headers. */
export async function readTarMembers(tar: string, members: ReadonlySet<string>): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const m of tarEntries(tar, (name) => members.has(name))) if (m.data) out.set(m.name, m.data);
  return out;
}
