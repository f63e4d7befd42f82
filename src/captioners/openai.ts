// A vision-language model behind any OpenAI-compatible chat-completions server (vLLM, SGLang,
// llama.cpp server, Ollama). Images go as base64 data URLs; the caption is the text between
// <CAPTION> tags. Requests run with bounded concurrency, a timeout each, and retries with
// exponential backoff and jitter on 429 (honouring Retry-After), 5xx, timeouts and resets.
// Every finished request (a caption, or a reply without tags) is appended to a per-shard cache
// keyed by (id, model, prompt hash, parameters), so a crashed shard never pays twice.

import pLimit from 'p-limit';
import { withRetries, type RetryPolicy } from '../util/fetch.js';
import { RowError, ServerResponseError } from '../errors.js';
import { cachedRequest, imageContent, postChatCompletion, type RequestCache } from '../vlm/client.js';
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

export function promptHash(prompt: string): string {
  return sha256(prompt);
}

export function extractCaption(text: string): string | null {
  const m = /<CAPTION>([\s\S]*?)<\/CAPTION>/i.exec(text);
  const c = m?.[1]?.trim();
  return c ? c : null;
}

export class OpenAICaptioner {
  readonly promptSha: string;
  requestsSent = 0;

  constructor(readonly opts: OpenAICaptionerOptions) {
    this.promptSha = promptHash(opts.prompt);
  }

  /** What an answer depends on: the row, the model, the prompt as sent (alt text filled in), decoding. */
  cacheKey(id: string, altText: string | null): string {
    return sha256(
      canonicalJson({
        id,
        model: this.opts.model,
        prompt: this.promptSha,
        alt_text: altText,
        max_tokens: this.opts.maxTokens,
        temperature: this.opts.temperature,
      }),
    );
  }

  private async request(req: CaptionRequest): Promise<CaptionResult> {
    const body = {
      model: this.opts.model,
      max_tokens: this.opts.maxTokens,
      temperature: this.opts.temperature,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: this.opts.prompt.replaceAll('{alt_text}', req.altText ?? '') },
            imageContent(req.image, req.mime),
          ],
        },
      ],
    };
    return withRetries(async () => {
      this.requestsSent++;
      const { json, url } = await postChatCompletion(this.opts, body);
      const content = (json.choices as { message?: { content?: unknown } }[] | undefined)?.[0]?.message?.content;
      if (typeof content !== 'string') throw new ServerResponseError(url, 'reply has no choices[0].message.content');
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
            return await cachedRequest(cache, this.cacheKey(req.id, req.altText), req.id, () => this.request(req), {
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
