// Exclusive locks between processes on one data root: a file created with O_EXCL holding the
// owner's pid and host, whose modification time is its heartbeat (the owner touches it every
// quarter lease). A lock whose process is gone (same host, pid not alive) is taken over; so is one
// from another host whose heartbeat is older than the lease (a rank requeued elsewhere after its
// node died), and one still empty or unreadable after a grace period (a full disk, or a kill
// between creating and writing it). A live one is never taken: it is an error that names its owner.
// Why not proper-lockfile: its staleness is one mtime rule for every lock, while a rank here is a
// process on one of many hosts: on its own host a dead pid frees its lock at once, from another
// host only a lease that ran out does, and the lock file says who holds it for `miro status`.

import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockError } from '../errors.js';

export interface LockOwner {
  pid: number;
  host: string;
  since: string;
  what: string;
  /** The lease the owner took the lock with (ms): a taker on another host honours it, not its own. */
  lease_ms?: number;
}

/** The owner a lock file names, read leniently (a hand-edited file may end in a newline); undefined if it names none. */
function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text.trim()) as LockOwner;
    return typeof o?.pid === 'number' && typeof o?.host === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
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

/** The default lease (`miro run --lock-lease`, MIRO_LOCK_LEASE): 10 minutes. Keep it well above clock skew between hosts. */
export const DEFAULT_LEASE_MS = 600_000;

export class FileLock {
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(
    readonly file: string,
    lease: number,
  ) {
    // The heartbeat: the file's mtime, refreshed four times a lease (utimes never changes who owns it).
    this.heartbeat = setInterval(
      () => {
        const now = new Date();
        fs.utimes(file, now, now).catch(() => undefined);
      },
      Math.max(250, lease / 4),
    );
    this.heartbeat.unref();
  }

  static async acquire(
    file: string,
    what: string,
    opts: { waitMs?: number; onWait?: (holder: string) => void; leaseMs?: number } = {},
  ): Promise<FileLock> {
    const lease = opts.leaseMs ?? DEFAULT_LEASE_MS;
    await fs.mkdir(path.dirname(file), { recursive: true });
    const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), what, lease_ms: lease };
    const deadline = Date.now() + (opts.waitMs ?? 0);
    let saidWaiting = false;
    for (;;) {
      try {
        await fs.writeFile(file, JSON.stringify(owner), { flag: 'wx' });
        return new FileLock(file, lease);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      // Vanished, half-written, or left empty by a full disk: no owner.
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      const held = parseOwner(text);
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
      const beat = (await fs.stat(file).catch(() => null))?.mtimeMs ?? Date.now();
      const sameHost = held.host === os.hostname();
      const heldLease = held.lease_ms ?? lease;
      if ((sameHost && !alive(held.pid)) || (!sameHost && Date.now() - beat > heldLease)) {
        // Stale: its process died here, or its heartbeat stopped on another host. Remove only if the
        // file still names that owner.
        const again = await fs.readFile(file, 'utf8').catch(() => '');
        if (again === text) {
          opts.onWait?.(
            `${what}: taking over the lock of process ${held.pid} on ${held.host} (${sameHost ? 'no longer running' : `no heartbeat for ${Math.round((Date.now() - beat) / 1000)} s, lease ${heldLease / 1000} s`})`,
          );
          await fs.rm(file, { force: true });
        }
        continue;
      }
      const who = `process ${held.pid} on ${held.host} since ${held.since}, heartbeat ${Math.round((Date.now() - beat) / 1000)} s ago`;
      if (Date.now() >= deadline) {
        throw new LockError(`${what} is locked by ${who} (${file}); if that process is gone from another host, remove the file`);
      }
      if (!saidWaiting) opts.onWait?.(`${what}: waiting up to ${Math.round((deadline - Date.now()) / 1000)} s for ${who} (--wait-timeout)`);
      saidWaiting = true;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async release(): Promise<void> {
    clearInterval(this.heartbeat);
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
    const owner = parseOwner(await fs.readFile(file, 'utf8').catch(() => '')); // undefined: being written, or gone
    if (owner) out.push({ file, owner, alive: owner.host === os.hostname() ? alive(owner.pid) : null });
  }
  return out;
}
