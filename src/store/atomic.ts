// Durable file replacement: write a temporary file, fsync it, rename it over the target,
// fsync the folder. A crash leaves the old file or the new one, never half of either.

import { promises as fs } from 'node:fs';
import path from 'node:path';

export async function fsyncFile(file: string): Promise<void> {
  const fh = await fs.open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on folders; the rename is still atomic there.
  } finally {
    await fh.close();
  }
}

/** Renames an already written and synced temporary file into place. */
export async function commitFile(tmp: string, target: string): Promise<void> {
  await fsyncFile(tmp);
  await fs.rename(tmp, target);
  await fsyncDir(path.dirname(target));
}

export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  await fs.writeFile(tmp, data);
  await commitFile(tmp, target);
}

export async function readJsonIfExists<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
