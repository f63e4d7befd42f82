// A vision-language model behind any OpenAI-compatible chat-completions server (vLLM, SGLang,
// llama.cpp server, Ollama). Images go as base64 data URLs; the caption is the text between
// <CAPTION> tags. Requests run with bounded concurrency, a timeout each, and retries with
// exponential backoff and jitter on 429 (honouring Retry-After), 5xx, timeouts and resets.
// Every finished request (a caption, or a reply without tags) is appended to a per-shard cache
// keyed by (id, model, prompt hash, parameters), so a crashed shard never pays twice.

import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { fetchOnce, withRetries, type RetryPolicy } from '../util/fetch.js';
import { ModelServerError, errorMessage } from '../errors.js';
import { RowError } from '../stages/base.js';
import { sha256, canonicalJson } from '../util/hash.js';

export interface OpenAICaptionerOptions {
  /** Base URL, e.g. http://localhost:8000/v1 */
  server: string;
  model: string;
  /** Prompt text; `{alt_text}` is replaced by the row's real caption. */
  prompt: string;
  maxTokens: number;
  temperature: number;
  concurrency: number;
  retry: RetryPolicy;
  apiKey?: string;
}

export interface CaptionRequest {
  id: string;
  image: Uint8Array;
  mime: string;
  altText: string | null;
}

export interface CaptionResult {
  caption: string;
  serverModel: string | null;
}

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

export function promptHash(prompt: string): string {
  return sha256(prompt);
}

export function loadPrompt(file: string): string {
  return readFileSync(file, 'utf8');
}

export function extractCaption(text: string): string | null {
  const m = /<CAPTION>([\s\S]*?)<\/CAPTION>/i.exec(text);
  const c = m?.[1]?.trim();
  return c ? c : null;
}

/** Append-only JSONL cache of finished requests; a torn last line (a crash mid-write) is skipped. */
export class RequestCache {
  private entries = new Map<string, CacheEntry>();
  private handle: fs.FileHandle | undefined;

  static async open(file: string): Promise<RequestCache> {
    const cache = new RequestCache();
    await fs.mkdir(path.dirname(file), { recursive: true });
    const text = await fs.readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      try {
        const e = JSON.parse(line) as CacheEntry;
        if (e.key) cache.entries.set(e.key, e);
      } catch {
        // torn or empty line
      }
    }
    cache.handle = await fs.open(file, 'a');
    return cache;
  }

  get(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  async put(entry: CacheEntry): Promise<void> {
    this.entries.set(entry.key, entry);
    await this.handle!.appendFile(`${JSON.stringify(entry)}\n`);
    await this.handle!.datasync();
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

export function sniffMime(b: Uint8Array): string {
  if (b[0] === 0x89 && b[1] === 0x50) return 'image/png';
  if (b[0] === 0xff && b[1] === 0xd8) return 'image/jpeg';
  if (b[0] === 0x52 && b[1] === 0x49) return 'image/webp';
  if (b[0] === 0x47 && b[1] === 0x49) return 'image/gif';
  return 'application/octet-stream';
}

/**
 * One POST to `<server>/chat/completions` (one attempt: wrap it in withRetries). Transport
 * failures, HTTP errors and a reply that is not JSON become retryable ModelServerErrors.
 */
export async function postChatCompletion(server: { server: string; apiKey?: string; retry: RetryPolicy }, body: unknown): Promise<{ json: Record<string, unknown>; url: string }> {
  const url = `${server.server.replace(/\/$/, '')}/chat/completions`;
  const headers = { 'content-type': 'application/json', ...(server.apiKey ? { authorization: `Bearer ${server.apiKey}` } : {}) };
  const res = await fetchOnce(url, { method: 'POST', headers, body: JSON.stringify(body) }, server.retry.timeoutMs);
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new ModelServerError(`${url}: connection lost while reading the reply (${errorMessage(err)})`, 'connection_error', true, { cause: err });
  }
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === 'object' && !Array.isArray(json)) return { json: json as Record<string, unknown>, url };
  } catch {
    // falls through
  }
  throw new ModelServerError(`${url}: reply is not a JSON object: ${text.slice(0, 120)}`, 'bad_response', true);
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
  try {
    const answer = await request();
    await cache?.put({ ...codec.save(answer), key, id, ok: true });
    return answer;
  } catch (err) {
    if (err instanceof RowError) {
      await cache?.put({ key, id, ok: false, status: err.status, error: err.message });
      return err;
    }
    if (err instanceof ModelServerError) return new RowError(err.errorClass, err.message);
    return new RowError('error', errorMessage(err));
  }
}

export class OpenAICaptioner {
  readonly promptSha: string;
  requestsSent = 0;

  constructor(readonly opts: OpenAICaptionerOptions) {
    this.promptSha = promptHash(opts.prompt);
  }

  cacheKey(id: string): string {
    return sha256(canonicalJson({ id, model: this.opts.model, prompt: this.promptSha, max_tokens: this.opts.maxTokens, temperature: this.opts.temperature }));
  }

  private async request(req: CaptionRequest): Promise<CaptionResult> {
    const body = {
      model: this.opts.model,
      max_tokens: this.opts.maxTokens,
      temperature: this.opts.temperature,
      messages: [{ role: 'user', content: [{ type: 'text', text: this.opts.prompt.replaceAll('{alt_text}', req.altText ?? '') }, imageContent(req.image, req.mime)] }],
    };
    return withRetries(async () => {
      this.requestsSent++;
      const { json, url } = await postChatCompletion(this.opts, body);
      const content = (json.choices as { message?: { content?: unknown } }[] | undefined)?.[0]?.message?.content;
      if (typeof content !== 'string') throw new ModelServerError(`${url}: reply has no choices[0].message.content`, 'bad_response', true);
      const caption = extractCaption(content);
      if (!caption) throw new RowError('no_tags', `reply without <CAPTION> tags: ${content.slice(0, 120)}`);
      return { caption, serverModel: typeof json.model === 'string' ? json.model : null };
    }, this.opts.retry);
  }

  /** Captions a batch; each result is a caption or the row's error. Finished requests are cached. */
  async captionAll(requests: CaptionRequest[], cache: RequestCache, onDone?: () => void): Promise<(CaptionResult | RowError)[]> {
    const limit = pLimit(this.opts.concurrency);
    return Promise.all(
      requests.map((req) =>
        limit(async (): Promise<CaptionResult | RowError> => {
          try {
            // A reply without tags is a finished request (a RowError): cached like a caption.
            return await cachedRequest(cache, this.cacheKey(req.id), req.id, () => this.request(req), {
              save: (r) => ({ caption: r.caption, serverModel: r.serverModel }),
              load: (e) => ({ caption: e.caption!, serverModel: e.serverModel ?? null }),
            });
          } finally {
            onDone?.();
          }
        }),
      ),
    );
  }
}
