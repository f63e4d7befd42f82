// A real HTTP server speaking the OpenAI chat-completions protocol, standing in for a GPU-sized
// VLM. It answers with <CAPTION> tags, and injects faults per image from a plan: 500s, 429s with
// Retry-After, timeouts, replies without tags, malformed JSON, connection resets. Optional fixed
// latency and a concurrency limit (queueing) model a server's capacity for benchmarks.
// A request with `logprobs: true` (VQAScore) gets one answer token and its top log-probabilities:
// P("Yes") is `yesProbability(image id, question)`, shared with the tests; fault `nologprobs`
// answers without them, as a server that does not support them would.

import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export type Fault = 'ok' | '500' | '429' | 'timeout' | 'notags' | 'badjson' | 'reset' | 'nologprobs';

/** The fake model's P("Yes") for an image (its id) and a question: in [0.01, 0.99], from a hash. */
export function yesProbability(imageId: string, question: string): number {
  return 0.01 + (0.98 * parseInt(createHash('sha256').update(`${imageId}|${question}`).digest('hex').slice(0, 8), 16)) / 2 ** 32;
}

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
  /** The media type of every image received (from its data URL), in order. */
  mimes: string[];
  total: () => number;
  close: () => Promise<void>;
}

export async function startFakeVlm(opts: FakeVlmOptions = {}): Promise<FakeVlm> {
  const requests = new Map<string, number>();
  const completedOk = new Map<string, number>();
  const mimes: string[] = [];
  let active = 0;
  const queue: (() => void)[] = [];
  const held = new Set<http.ServerResponse>();
  const acquire = () =>
    new Promise<void>((resolve) =>
      active < (opts.maxConcurrent ?? Infinity) ? (active++, resolve()) : queue.push(() => (active++, resolve())),
    );
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
    const parsed = JSON.parse(body) as {
      model: string;
      logprobs?: boolean;
      top_logprobs?: number;
      messages: { content: { type: string; text?: string; image_url?: { url: string } }[] }[];
    };
    const dataUrl = parsed.messages[0]!.content.find((c) => c.type === 'image_url')!.image_url!.url;
    mimes.push(dataUrl.slice('data:'.length, dataUrl.indexOf(';')));
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
        case 'nologprobs':
        case 'notags':
        case 'ok': {
          if (parsed.logprobs) {
            const question = parsed.messages[0]!.content.find((c) => c.type === 'text')!.text!;
            const p = yesProbability(id, question);
            // "No" takes most of the rest; "yes" (another token) a little, to test exact matching.
            const top = [
              { token: 'Yes', logprob: Math.log(p) },
              { token: 'No', logprob: Math.log((1 - p) * 0.9) },
              { token: 'yes', logprob: Math.log((1 - p) * 0.05) },
            ].sort((a, b) => b.logprob - a.logprob);
            const logprobs =
              fault === 'nologprobs' ? null : { content: [{ ...top[0]!, top_logprobs: top.slice(0, parsed.top_logprobs ?? 0) }] };
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({
                id: `cmpl-${id}`,
                object: 'chat.completion',
                model: 'fake-vlm-1',
                choices: [{ index: 0, message: { role: 'assistant', content: top[0]!.token }, logprobs, finish_reason: 'length' }],
              }),
              () => {
                completedOk.set(id, (completedOk.get(id) ?? 0) + 1);
              },
            );
            return;
          }
          const content = fault === 'ok' ? `Here you go. <CAPTION>A test image ${id}.</CAPTION>` : 'A test image without any tags.';
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              id: `cmpl-${id}`,
              object: 'chat.completion',
              model: 'fake-vlm-1',
              choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
            }),
            () => {
              if (fault === 'ok') completedOk.set(id, (completedOk.get(id) ?? 0) + 1);
            },
          );
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
    mimes,
    total: () => [...requests.values()].reduce((a, b) => a + b, 0),
    close: async () => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
