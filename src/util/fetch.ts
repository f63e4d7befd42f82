// HTTP with a timeout per attempt and retries with exponential backoff and jitter on
// timeouts, resets, 429 (honouring Retry-After) and 5xx. Other statuses fail at once.
// Why not p-retry: the retry decision and the wait come from the response (Retry-After, the status
// class), and every failure must end as one of the typed errors of errors.ts with its URL, status
// and cause, which a row records as its error class; p-retry's wrapper would sit around the same
// code rather than replace it.

import { ModelServerError, ServerHTTPError, ServerNetworkError, ServerTimeoutError } from '../errors.js';

export interface RetryPolicy {
  timeoutMs: number;
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetry: RetryPolicy = { timeoutMs: 30_000, retries: 4, baseDelayMs: 250, maxDelayMs: 10_000 };

export function backoffMs(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return cap / 2 + random() * (cap / 2); // "equal jitter": never zero, never above the cap
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs)) return secs * 1000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

const CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi;

/** Text with the user and password of every URL in it replaced by `***`, for logs, errors and manifests. */
export function redactUrl(text: string): string {
  return text.replace(CREDENTIALS, '$1***@');
}

/** Every string inside a JSON-like value, redacted (see redactUrl). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactUrl(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === 'object' && !(value instanceof Uint8Array))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  return value;
}

/** A URL's user and password as an Authorization header (fetch refuses URLs that carry them), and the bare URL. */
function splitCredentials(url: string): { bare: string; authorization: string | null } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { bare: url, authorization: null };
  }
  if (!parsed.username && !parsed.password) return { bare: url, authorization: null };
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { bare: parsed.toString(), authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

/** One attempt: classifies every failure as a ModelServerError with a stable error class. */
export async function fetchOnce(target: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  const { bare, authorization } = splitCredentials(target);
  const url = redactUrl(target);
  const headers = new Headers(init.headers);
  if (authorization && !headers.has('authorization')) headers.set('authorization', authorization);
  let res: Response;
  try {
    res = await fetch(bare, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new ServerTimeoutError(url, timeoutMs, err);
    throw new ServerNetworkError(url, `${e.message}${e.cause ? ` (${(e.cause as Error).message ?? e.cause})` : ''}`, err);
  }
  if (res.ok) return res;
  const body = await res.text().catch(() => '');
  throw new ServerHTTPError(url, res.status, body, retryAfterMs(res.headers.get('retry-after')));
}

/** Runs `attempt` until it succeeds, a non-retryable error occurs, or retries run out. */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (err: ModelServerError, waitMs: number) => void,
): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ModelServerError) || !err.retryable || i >= policy.retries) throw err;
      const wait = Math.min(policy.maxDelayMs, err.retryAfterMs ?? backoffMs(i, policy));
      onRetry?.(err, wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

export async function fetchBytes(url: string, policy: RetryPolicy = defaultRetry): Promise<Uint8Array> {
  return withRetries(async () => new Uint8Array(await (await fetchOnce(url, {}, policy.timeoutMs)).arrayBuffer()), policy);
}
