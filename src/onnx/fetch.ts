// `miro models fetch CONFIG`: downloads a reward model's files from the Hugging Face Hub by repo
// and revision into the model cache (or the config's model_dir), with timeouts and retries,
// verifies each file's sha256 where the config pins one, and renames into place only when whole.

import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fetchOnce, withRetries, defaultRetry } from '../util/fetch.js';
import { sha256File } from '../util/hash.js';
import { fsyncFile } from '../store/atomic.js';
import { MiroError } from '../errors.js';
import { readModelFiles } from './model-files.js';
import { settings } from '../util/settings.js';

export interface FetchReport {
  file: string;
  status: 'downloaded' | 'present';
  bytes: number;
  sha256: string;
}

export function hubUrl(repo: string, revision: string, file: string): string {
  const endpoint = settings().hubEndpoint.replace(/\/$/, '');
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

export async function fetchModel(
  configFile: string,
  log: (m: string) => void = () => {},
  opts: { requirePins?: boolean } = {},
): Promise<FetchReport[]> {
  const cfg = readModelFiles(configFile);
  if (!cfg.hub)
    throw new MiroError(
      cfg.export
        ? `${configFile}: no repository publishes these files; export them once where PyTorch is installed: ${cfg.export} (scripts/export/README.md)`
        : `${configFile}: no hub: {repo, revision} to fetch from; put the files in ${cfg.dir}`,
    );
  // A file with no pinned sha256 is whatever the server sends: say so, or refuse with --require-pins.
  const unpinned = Object.entries(cfg.files)
    .filter(([, f]) => !f.sha256)
    .map(([k]) => `files.${k}`);
  if (unpinned.length && opts.requirePins)
    throw new MiroError(`${configFile}: ${unpinned.join(', ')} pin no sha256; --require-pins refuses unpinned downloads`);
  for (const k of unpinned) log(`warning: ${configFile}: ${k} pins no sha256, so any bytes the server sends are accepted`);
  const token = settings().hubToken;
  const out: FetchReport[] = [];
  for (const [key, f] of Object.entries(cfg.files)) {
    const target = path.join(cfg.dir, f.path);
    const existing = await fs.stat(target).catch(() => null);
    if (existing) {
      const sha = await sha256File(target);
      if (!f.sha256 || sha === f.sha256) {
        out.push({ file: target, status: 'present', bytes: existing.size, sha256: sha });
        continue;
      }
      log(`${target}: sha256 ${sha} does not match ${f.sha256}; downloading again`);
    }
    const url = hubUrl(cfg.hub.repo, cfg.hub.revision, f.path);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.part-${process.pid}`;
    await withRetries(
      async () => {
        const res = await fetchOnce(url, { headers: token ? { authorization: `Bearer ${token}` } : {} }, 10 * 60_000);
        await pipeline(Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream), createWriteStream(tmp));
      },
      { ...defaultRetry, timeoutMs: 10 * 60_000 },
      (err, wait) => log(`${url}: ${err.message}; retrying in ${Math.round(wait)} ms`),
    ).catch(async (err) => {
      await fs.rm(tmp, { force: true });
      throw new MiroError(`files.${key}: cannot download ${url}: ${(err as Error).message}`, { cause: err });
    });
    const sha = await sha256File(tmp);
    if (f.sha256 && sha !== f.sha256) {
      await fs.rm(tmp, { force: true });
      throw new MiroError(`files.${key}: ${url} has sha256 ${sha}, but ${configFile} pins ${f.sha256}`);
    }
    await fsyncFile(tmp);
    await fs.rename(tmp, target);
    const bytes = (await fs.stat(target)).size;
    log(`${target}: ${bytes} bytes, sha256 ${sha}`);
    out.push({ file: target, status: 'downloaded', bytes, sha256: sha });
  }
  return out;
}
