// HTTP with a timeout per attempt and retries with exponential backoff and jitter on
// timeouts, resets, 429 (honouring Retry-After) and 5xx. Other statuses fail at once.

import { ModelServerError } from '../errors.js';

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

/** One attempt: classifies every failure as a ModelServerError with a stable error class. */
export async function fetchOnce(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error;
    if (e.name === 'TimeoutError' || e.name === 'AbortError')
      throw new ModelServerError(`${url}: no answer within ${timeoutMs} ms`, 'timeout', true, { cause: err });
    throw new ModelServerError(
      `${url}: ${e.message}${e.cause ? ` (${(e.cause as Error).message ?? e.cause})` : ''}`,
      'connection_error',
      true,
      { cause: err },
    );
  }
  if (res.ok) return res;
  const body = await res.text().catch(() => '');
  const retryable = res.status === 429 || res.status >= 500;
  throw new ModelServerError(`${url}: HTTP ${res.status} ${body.slice(0, 200)}`, `http_${res.status}`, retryable, {
    retryAfterMs: retryAfterMs(res.headers.get('retry-after')),
  });
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
