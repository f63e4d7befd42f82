// POSIX ustar archives, as webdataset shards are: a 512-byte header per member, its data padded to
// 512 bytes, two zero blocks at the end. Headers are deterministic (mode 0644, owner 0, mtime 0), so
// the same members give the same bytes. The reader lists members for `miro verify` and tests.
// Why not tar-stream: a release must be byte-identical across runs, so every header field is fixed
// here (tar-stream fills mtime, and uid/gid from options per entry), and the writer fsyncs the shard
// before it is hashed into release.json; both are a few lines over 512-byte blocks.

import { promises as fs } from 'node:fs';

const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

export function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar member name too long for ustar: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
  h.write('0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

export class TarWriter {
  private constructor(private readonly handle: fs.FileHandle) {}

  static async create(file: string): Promise<TarWriter> {
    return new TarWriter(await fs.open(file, 'w'));
  }

  async add(name: string, data: Uint8Array): Promise<void> {
    await this.handle.write(tarHeader(name, data.length));
    await this.handle.write(data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) await this.handle.write(Buffer.alloc(pad));
  }

  /** The end-of-archive blocks, fsync, close. */
  async close(): Promise<void> {
    await this.handle.write(Buffer.alloc(2 * BLOCK));
    await this.handle.sync();
    await this.handle.close();
  }
}

/**
 * The regular members of a ustar archive on disk, streamed: each member's name and size, and its
 * data only when `want(name)` says so (so a multi-gigabyte shard is read header by header). Members
 * of any other type (links, folders, pax headers) are passed to `onOther` with their type flag.
 */
export async function* tarEntries(
  file: string,
  want: (name: string) => boolean,
  onOther?: (name: string, type: string) => void,
): AsyncIterable<{ name: string; size: number; data: Uint8Array | null }> {
  const handle = await fs.open(file, 'r');
  try {
    const h = Buffer.alloc(BLOCK);
    let off = 0;
    for (;;) {
      const { bytesRead } = await handle.read(h, 0, BLOCK, off);
      if (bytesRead < BLOCK) throw new Error(`${file}: ends inside a header at byte ${off} (no end-of-archive blocks)`);
      if (h.every((b) => b === 0)) return;
      const str = (a: number, n: number) =>
        h
          .subarray(a, a + n)
          .toString('utf8')
          .replace(/\0.*$/s, '');
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      if (parseInt(str(148, 8).trim(), 8) !== sum) throw new Error(`${file}: bad tar header checksum at byte ${off}`);
      const size = parseInt(str(124, 12).trim() || '0', 8);
      const prefix = str(345, 155);
      const name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
      let data: Uint8Array | null = null;
      if (want(name)) {
        data = Buffer.alloc(size);
        const r = await handle.read(data, 0, size, off + BLOCK);
        if (r.bytesRead < size) throw new Error(`${file}: member ${name} is truncated`);
      }
      const type = str(156, 1) || '0';
      if (type === '0') yield { name, size, data };
      else onOther?.(name, type);
      off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    await handle.close();
  }
}
