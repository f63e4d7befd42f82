// Exclusive locks between processes on one data root: a file created with O_EXCL holding the
// owner's pid and host. A lock whose process is gone (same host, pid not alive) is stale and is
// taken over, and so is one still empty or unreadable after a grace period (a full disk, or a kill
// between creating and writing it); a live one is an error that names its owner.

import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockError } from '../errors.js';

export interface LockOwner {
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

/** A writer fills its lock file at once; one still unreadable after this long has no writer. */
const UNREADABLE_GRACE_MS = 2000;

async function unreadableForAWhile(file: string, text: string): Promise<boolean> {
  const st = await fs.stat(file).catch(() => null);
  return st !== null && st.size === Buffer.byteLength(text) && Date.now() - st.mtimeMs > UNREADABLE_GRACE_MS;
}

export class FileLock {
  private constructor(readonly file: string) {}

  static async acquire(file: string, what: string, opts: { waitMs?: number; onWait?: (holder: string) => void } = {}): Promise<FileLock> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), what };
    const deadline = Date.now() + (opts.waitMs ?? 0);
    let saidWaiting = false;
    for (;;) {
      try {
        await fs.writeFile(file, JSON.stringify(owner), { flag: 'wx' });
        return new FileLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let held: LockOwner | undefined;
      let text = '';
      try {
        text = await fs.readFile(file, 'utf8');
        held = JSON.parse(text) as LockOwner;
      } catch {
        held = undefined; // vanished, half-written, or left empty by a full disk
      }
      if (!held && (await unreadableForAWhile(file, text))) {
        // An empty or unreadable lock that stays so is a leftover (a disk that filled while writing
        // it): nobody owns it. Remove it only if it is still the same unreadable file.
        if ((await fs.readFile(file, 'utf8').catch(() => null)) === text) await fs.rm(file, { force: true });
        continue;
      }
      if (!held) {
        // Being written right now, or left by a process killed between creating and writing it:
        // wait out the grace period either way (a run resumed at once after a kill lands here).
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (held.host === os.hostname() && !alive(held.pid)) {
        // Stale: its process died. Remove only if the file still names that dead owner.
        const again = await fs.readFile(file, 'utf8').catch(() => '');
        if (again === JSON.stringify(held)) await fs.rm(file, { force: true });
        continue;
      }
      const who = `process ${held.pid} on ${held.host} since ${held.since}`;
      if (Date.now() >= deadline) {
        throw new LockError(`${what} is locked by ${who} (${file}); if that process is gone from another host, remove the file`);
      }
      if (!saidWaiting) opts.onWait?.(`${what}: waiting up to ${Math.round((deadline - Date.now()) / 1000)} s for ${who} (--wait-timeout)`);
      saidWaiting = true;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async release(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}

/** A lock file and its owner; `alive` is known on the owner's host only (null elsewhere). */
export interface HeldLock {
  file: string;
  owner: LockOwner;
  alive: boolean | null;
}

/** The locks in a folder with their owners (for `miro status`): unreadable files are left out. */
export async function heldLocks(dir: string): Promise<HeldLock[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: HeldLock[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const owner = JSON.parse(await fs.readFile(file, 'utf8')) as LockOwner;
      out.push({ file, owner, alive: owner.host === os.hostname() ? alive(owner.pid) : null });
    } catch {
      // being written, or gone
    }
  }
  return out;
}
