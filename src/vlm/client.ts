// The client side of an OpenAI-compatible chat-completions server, shared by the VLM captioner
// and the VQAScore server scorer: one POST, images as data URLs, and a per-shard request cache
// so a crashed shard never pays twice for a finished request.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { sniffMime } from '../util/image.js';
import { fetchOnce, redactUrl, type RetryPolicy } from '../util/fetch.js';
import { ModelServerError, RowError, ServerNetworkError, ServerResponseError, StoreError, errorMessage } from '../errors.js';

/** A finished request: its answer (a caption, or a score) or the row error it ended in. */
export interface CacheEntry {
  key: string;
  id: string;
  ok: boolean;
  caption?: string;
  serverModel?: string | null;
  score?: number;
  status?: string;
  error?: string;
}

/** Append-only JSONL cache of finished requests; a torn last line (a crash mid-write) is skipped. */
export class RequestCache {
  private entries = new Map<string, CacheEntry>();
  private handle: fs.FileHandle | undefined;
  /** With `retryFailures`, a cached failure is not an answer: the request is sent again. */
  private constructor(
    private readonly retryFailures: boolean,
    private readonly file: string,
  ) {}

  static async open(file: string, opts: { retryFailures?: boolean } = {}): Promise<RequestCache> {
    const cache = new RequestCache(opts.retryFailures ?? false, file);
    await fs.mkdir(path.dirname(file), { recursive: true });
    let text = await fs.readFile(file, 'utf8').catch(() => '');
    // A line cut by a crash is dropped, and cut off the file, so the next append starts a line of its own.
    if (text && !text.endsWith('\n')) {
      text = text.slice(0, text.lastIndexOf('\n') + 1);
      await fs.truncate(file, Buffer.byteLength(text));
    }
    for (const line of text.split('\n')) {
      try {
        const e = JSON.parse(line) as CacheEntry;
        if (e.key) cache.entries.set(e.key, e);
      } catch {
        // an empty line, or one written by hand
      }
    }
    cache.handle = await fs.open(file, 'a');
    return cache;
  }

  get(key: string): CacheEntry | undefined {
    const hit = this.entries.get(key);
    return hit && !hit.ok && this.retryFailures ? undefined : hit;
  }

  /**
   * Appends an answer durably. A failed append (a full disk) is tried once more, then fails the
   * shard with a StoreError: an answer already paid for never becomes a failed row to be asked again.
   */
  async put(entry: CacheEntry): Promise<void> {
    this.entries.set(entry.key, entry);
    const line = `${JSON.stringify(entry)}\n`;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.handle!.appendFile(line);
        await this.handle!.datasync();
        return;
      } catch (err) {
        if (attempt >= 1) throw new StoreError(`cannot append to the request cache ${this.file} (${errorMessage(err)})`, { cause: err });
      }
    }
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    await this.handle?.close();
  }
}

/** An image as a chat-completions content part: a base64 data URL. */
export function imageContent(bytes: Uint8Array, mime = sniffMime(bytes)): { type: 'image_url'; image_url: { url: string } } {
  return { type: 'image_url', image_url: { url: `data:${mime};base64,${Buffer.from(bytes).toString('base64')}` } };
}

/** Formats chat-completions servers accept as image data URLs. */
const SERVER_FORMATS = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/gif']);

/** An image as a server will take it: PNG, JPEG, WebP and GIF as they are; anything else (TIFF, say) re-encoded to PNG (its first page). */
export async function serverImage(bytes: Uint8Array): Promise<{ bytes: Uint8Array; mime: string }> {
  const mime = sniffMime(bytes);
  if (SERVER_FORMATS.has(mime)) return { bytes, mime };
  const sharp = (await import('sharp')).default;
  return { bytes: new Uint8Array(await sharp(bytes).png().toBuffer()), mime: 'image/png' };
}

/**
 * One POST to `<server>/chat/completions` (one attempt: wrap it in withRetries). Transport
 * failures, HTTP errors and a reply that is not JSON become retryable ModelServerErrors.
 */
export async function postChatCompletion(
  server: { server: string; apiKey?: string; retry: RetryPolicy },
  body: unknown,
): Promise<{ json: Record<string, unknown>; url: string }> {
  const target = `${server.server.replace(/\/$/, '')}/chat/completions`;
  const url = redactUrl(target);
  const headers = { 'content-type': 'application/json', ...(server.apiKey ? { authorization: `Bearer ${server.apiKey}` } : {}) };
  const res = await fetchOnce(target, { method: 'POST', headers, body: JSON.stringify(body) }, server.retry.timeoutMs);
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new ServerNetworkError(url, `connection lost while reading the reply (${errorMessage(err)})`, err);
  }
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === 'object' && !Array.isArray(json)) return { json: json as Record<string, unknown>, url };
  } catch {
    // falls through
  }
  throw new ServerResponseError(url, `reply is not a JSON object: ${text.slice(0, 120)}`);
}

/**
 * One request through a request cache (or none): a cached answer comes back as it was; a new
 * answer, or a RowError (a reply that can never give one), is cached; a transport failure becomes
 * the row's error and is not cached, so a re-run asks again.
 */
export async function cachedRequest<T>(
  cache: RequestCache | null,
  key: string,
  id: string,
  request: () => Promise<T>,
  codec: { save: (answer: T) => Partial<CacheEntry>; load: (entry: CacheEntry) => T },
): Promise<T | RowError> {
  const hit = cache?.get(key);
  if (hit) return hit.ok ? codec.load(hit) : new RowError(hit.status!, hit.error!);
  let answer: T;
  try {
    answer = await request();
  } catch (err) {
    if (err instanceof RowError) {
      await cache?.put({ key, id, ok: false, status: err.status, error: err.message });
      return err;
    }
    if (err instanceof ModelServerError) return new RowError(err.errorClass, err.message);
    return new RowError('error', errorMessage(err));
  }
  await cache?.put({ ...codec.save(answer), key, id, ok: true }); // outside the try: a cache failure is not the row's
  return answer;
}
