// A real HTTP server speaking the OpenAI chat-completions protocol, standing in for a GPU-sized
// VLM. It answers with <CAPTION> tags, and injects faults per image from a plan: 500s, 429s with
// Retry-After, timeouts, replies without tags, malformed JSON, connection resets. Optional fixed
// latency and a concurrency limit (queueing) model a server's capacity for benchmarks.

import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export type Fault = 'ok' | '500' | '429' | 'timeout' | 'notags' | 'badjson' | 'reset';

export interface FakeVlmOptions {
  /** Per image id (first 16 hex of the image's sha256): the reply to each successive attempt. */
  plan?: Record<string, Fault[]>;
  latencyMs?: number;
  maxConcurrent?: number;
  retryAfterSeconds?: number;
}

export interface FakeVlm {
  url: string;
  requests: Map<string, number>;
  completedOk: Map<string, number>;
  total: () => number;
  close: () => Promise<void>;
}

export async function startFakeVlm(opts: FakeVlmOptions = {}): Promise<FakeVlm> {
  const requests = new Map<string, number>();
  const completedOk = new Map<string, number>();
  let active = 0;
  const queue: (() => void)[] = [];
  const held = new Set<http.ServerResponse>();
  const acquire = () => new Promise<void>((resolve) => (active < (opts.maxConcurrent ?? Infinity) ? (active++, resolve()) : queue.push(() => (active++, resolve()))));
  const release = () => {
    active--;
    queue.shift()?.();
  };

  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404).end();
      return;
    }
    const parsed = JSON.parse(body) as { model: string; messages: { content: { type: string; image_url?: { url: string } }[] }[] };
    const dataUrl = parsed.messages[0]!.content.find((c) => c.type === 'image_url')!.image_url!.url;
    const bytes = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
    const id = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    const attempt = requests.get(id) ?? 0;
    requests.set(id, attempt + 1);
    const plan = opts.plan?.[id];
    const fault: Fault = plan ? (plan[Math.min(attempt, plan.length - 1)] ?? 'ok') : 'ok';
    await acquire();
    try {
      if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
      switch (fault) {
        case '500':
          res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
          return;
        case '429':
          res.writeHead(429, { 'retry-after': String(opts.retryAfterSeconds ?? 0.05) }).end('slow down');
          return;
        case 'timeout':
          held.add(res); // never answers; the client's timeout fires
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'badjson':
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [ {"message": ');
          return;
        case 'notags':
        case 'ok': {
          const content = fault === 'ok' ? `Here you go. <CAPTION>A test image ${id}.</CAPTION>` : 'A test image without any tags.';
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id: `cmpl-${id}`, object: 'chat.completion', model: 'fake-vlm-1', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] }), () => {
            if (fault === 'ok') completedOk.set(id, (completedOk.get(id) ?? 0) + 1);
          });
          return;
        }
      }
    } finally {
      release();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    completedOk,
    total: () => [...requests.values()].reduce((a, b) => a + b, 0),
    close: async () => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
