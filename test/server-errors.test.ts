// Failures of a server are typed, in one family: a timeout, a broken connection and an HTTP status
// each have a class carrying the URL (credentials removed), the row status they become and `cause`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchOnce } from '../src/util/fetch.ts';
import { MiroError, ModelServerError, RowError, ServerHTTPError, ServerNetworkError, ServerTimeoutError } from '../src/errors.ts';

test('timeouts, refused connections and HTTP statuses are typed errors with the URL, the status and the cause', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/slow') return setTimeout(() => res.end('late'), 2000).unref();
    res.writeHead(503, { 'retry-after': '2' }).end('overloaded');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://user:secret@127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const status = await fetchOnce(`${base}/busy`, {}, 1000).catch((e: unknown) => e);
    assert.ok(status instanceof ServerHTTPError && status instanceof ModelServerError && status instanceof MiroError);
    assert.equal(status.status, 503);
    assert.equal(status.errorClass, 'http_503');
    assert.equal(status.retryable, true);
    assert.equal(status.retryAfterMs, 2000);
    assert.doesNotMatch(status.url, /secret/);
    const slow = await fetchOnce(`${base}/slow`, {}, 100).catch((e: unknown) => e);
    assert.ok(slow instanceof ServerTimeoutError);
    assert.equal(slow.errorClass, 'timeout');
    assert.equal(slow.timeoutMs, 100);
    assert.ok(slow.cause);
  } finally {
    server.close();
  }
  const refused = await fetchOnce(base.replace(/:\d+$/, ':9'), {}, 1000).catch((e: unknown) => e);
  assert.ok(refused instanceof ServerNetworkError);
  assert.equal(refused.errorClass, 'connection_error');
  assert.ok(refused.cause);
  assert.ok(new RowError('decode_error', 'x') instanceof MiroError, 'row errors are in the family too');
});

test('an answer whose cache append fails (a full disk) fails the shard instead of becoming a failed row to ask again', async () => {
  const { RequestCache, cachedRequest } = await import('../src/vlm/client.ts');
  const { promises: fs, existsSync } = await import('node:fs');
  const { StoreError } = await import('../src/errors.ts');
  const path = await import('node:path');
  const { tmpDir } = await import('./helpers.ts');
  if (!existsSync('/dev/full')) return;
  const cache = await RequestCache.open(path.join(tmpDir(), 'cache.jsonl'));
  // Every write to /dev/full fails with ENOSPC, as on a full disk.
  (cache as unknown as { handle: import('node:fs/promises').FileHandle }).handle = await fs.open('/dev/full', 'a');
  let asked = 0;
  const result = cachedRequest(cache, 'k', 'row-1', async () => (asked++, 'an answer'), {
    save: (a) => ({ caption: a }),
    load: (e) => String(e.caption),
  });
  await assert.rejects(
    result,
    (e: unknown) => e instanceof StoreError && /cannot append to the request cache .*cache\.jsonl/.test((e as Error).message),
  );
  assert.equal(asked, 1);
});
