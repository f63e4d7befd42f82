// Exclusive locks between processes on one data root: a file created with O_EXCL holding the
// owner's pid and host. A lock whose process is gone (same host, pid not alive) is stale and is
// taken over; a live one is an error that names its owner.

import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockError } from '../errors.js';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
  what: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process nobody has reaped yet (a zombie) still answers kill(0); on Linux, ask /proc.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export class FileLock {
  private constructor(readonly file: string) {}

  static async acquire(file: string, what: string, opts: { waitMs?: number } = {}): Promise<FileLock> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), what };
    const deadline = Date.now() + (opts.waitMs ?? 0);
    for (;;) {
      try {
        await fs.writeFile(file, JSON.stringify(owner), { flag: 'wx' });
        return new FileLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let held: LockOwner | undefined;
      try {
        held = JSON.parse(await fs.readFile(file, 'utf8')) as LockOwner;
      } catch {
        held = undefined; // vanished or half-written: try again
      }
      if (held && held.host === os.hostname() && !alive(held.pid)) {
        // Stale: its process died. Remove only if the file still names that dead owner.
        const again = await fs.readFile(file, 'utf8').catch(() => '');
        if (again === JSON.stringify(held)) await fs.rm(file, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        const who = held ? `process ${held.pid} on ${held.host} since ${held.since}` : 'another process';
        throw new LockError(`${what} is locked by ${who} (${file}); if that process is gone from another host, remove the file`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async release(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}
