// VQAScore from a vision-language model behind an OpenAI-compatible chat-completions server
// (vLLM, SGLang, llama.cpp server): the image and the question 'Does this figure show
// "{caption}"? Please answer yes or no.' go in one request that generates a single token with
// `logprobs`; the score is P("Yes"), the summed probability of the configured yes-tokens among
// the first token's top log-probabilities. A yes-token outside the top `top_logprobs` counts as
// 0: its probability is below the smallest one listed. Configured in configs/scorers/*.yaml with
// `kind: vqa-server` and used as `scorer: vlm:<config>`. In a `score` node, finished requests go
// to the node's per-shard request cache (`_cache/`), as the captioner's do.

import pLimit from 'p-limit';
import { RowError, ServerResponseError } from '../errors.js';
import { readConfigFile } from '../onnx/config-file.js';
import { defaultRetry, withRetries, type RetryPolicy } from '../util/fetch.js';
import { cachedRequest, imageContent, postChatCompletion, RequestCache, serverImage } from '../vlm/client.js';
import { canonicalJson, sha256 } from '../util/hash.js';
import type { Scorer, ScoreInput, ScoreResult } from './types.js';
import { settings } from '../util/settings.js';

export interface VlmScorerConfig {
  file: string;
  name: string;
  server: { url: string; model: string; api_key_env: string; concurrency: number; timeout_ms: number; retries: number };
  question: string;
  /** Tokens whose probabilities add up to P("Yes"), matched exactly (e.g. "Yes"). */
  yes_tokens: string[];
  top_logprobs: number;
}

export function loadVlmScorerConfig(file: string): VlmScorerConfig {
  const { raw, bad, mapping } = readConfigFile(file, 'scorer config');
  if (raw.kind !== 'vqa-server') bad('kind', `a vlm: scorer needs kind: vqa-server, got ${JSON.stringify(raw.kind)}`);
  const server = mapping(raw.server, 'server');
  const text = (key: string, v: unknown) => (typeof v === 'string' && v ? v : bad(key, 'expected a non-empty string'));
  const count = (key: string, v: unknown, d: number, min: number) => {
    const n = v === undefined ? d : v;
    return typeof n === 'number' && Number.isInteger(n) && n >= min ? n : bad(key, `expected an integer >= ${min}`);
  };
  const question = text('question', raw.question ?? 'Does this figure show "{caption}"? Please answer yes or no.');
  if (!question.includes('{caption}')) bad('question', 'must contain {caption}');
  const yes = raw.yes_tokens ?? ['Yes'];
  if (!Array.isArray(yes) || !yes.length || !yes.every((t) => typeof t === 'string' && t))
    bad('yes_tokens', 'expected a list of tokens, e.g. [Yes]');
  return {
    file,
    name: String(raw.name ?? 'vqascore'),
    server: {
      url: text('server.url', server.url),
      model: text('server.model', server.model),
      api_key_env: typeof server.api_key_env === 'string' ? server.api_key_env : '',
      concurrency: count('server.concurrency', server.concurrency, 8, 1),
      timeout_ms: count('server.timeout_ms', server.timeout_ms, 120_000, 1),
      retries: count('server.retries', server.retries, defaultRetry.retries, 0),
    },
    question,
    yes_tokens: yes as string[],
    top_logprobs: count('top_logprobs', raw.top_logprobs, 20, 1),
  };
}

/** What the scores depend on: the model, the question and how P("Yes") is read (not the URL). */
export function vlmScorerIdentity(cfg: VlmScorerConfig): unknown {
  return { vlm: cfg.name, model: cfg.server.model, question: cfg.question, yes_tokens: cfg.yes_tokens, top_logprobs: cfg.top_logprobs };
}

interface TokenLogprob {
  token?: unknown;
  logprob?: unknown;
}

/** P(yes) from a chat-completions reply that carries `logprobs` for its first token. */
export function yesProbability(json: Record<string, unknown>, yesTokens: string[], url: string): number {
  const choice = (json.choices as { logprobs?: { content?: (TokenLogprob & { top_logprobs?: TokenLogprob[] })[] } }[] | undefined)?.[0];
  const first = choice?.logprobs?.content?.[0];
  if (!first)
    throw new RowError(
      'no_logprobs',
      `${url}: the reply has no choices[0].logprobs.content; the server must support "logprobs" (vLLM, SGLang and llama.cpp server do)`,
    );
  const seen = new Map<string, number>();
  for (const t of [first, ...(first.top_logprobs ?? [])]) {
    if (typeof t.token !== 'string' || typeof t.logprob !== 'number' || !(t.logprob <= 0))
      throw new ServerResponseError(url, `malformed logprob entry ${JSON.stringify(t).slice(0, 120)}`);
    seen.set(t.token, t.logprob);
  }
  const p = yesTokens.reduce((sum, tok) => sum + (seen.has(tok) ? Math.exp(seen.get(tok)!) : 0), 0);
  if (p > 1 + 1e-6) throw new ServerResponseError(url, `the yes-tokens' probabilities add up to ${p}`);
  return Math.min(1, p);
}

/** The request cache's key: the row and everything its answer depends on. */
function cacheKey(cfg: VlmScorerConfig, id: string, question: string): string {
  return sha256(canonicalJson({ id, model: cfg.server.model, question, yes_tokens: cfg.yes_tokens, top_logprobs: cfg.top_logprobs }));
}

export function loadVlmScorer(file: string): Scorer<ScoreResult> {
  const cfg = loadVlmScorerConfig(file);
  const retry: RetryPolicy = { ...defaultRetry, timeoutMs: cfg.server.timeout_ms, retries: cfg.server.retries };
  const server = {
    server: cfg.server.url,
    apiKey: cfg.server.api_key_env ? settings().environment[cfg.server.api_key_env] : undefined,
    retry,
  };
  const limit = pLimit(cfg.server.concurrency);
  const ask = async (original: Uint8Array, question: string) => {
    const image = await serverImage(original);
    return withRetries(async () => {
      const body = {
        model: cfg.server.model,
        max_tokens: 1,
        temperature: 0,
        logprobs: true,
        top_logprobs: cfg.top_logprobs,
        messages: [{ role: 'user', content: [imageContent(image.bytes, image.mime), { type: 'text', text: question }] }],
      };
      const { json, url } = await postChatCompletion(server, body);
      return yesProbability(json, cfg.yes_tokens, url);
    }, retry);
  };

  // Finished requests go to the cache when the node gives one (see cachedRequest).
  const scoreOne = (item: ScoreInput, cache: RequestCache | null): Promise<ScoreResult> => {
    if (!item.bytes)
      return Promise.resolve(new RowError('no_image', 'the vqa-server scorer sends the encoded image, and this row has none'));
    const question = cfg.question.replaceAll('{caption}', item.caption ?? '');
    const id = item.id ?? '';
    return cachedRequest(item.id === undefined ? null : cache, cacheKey(cfg, id, question), id, () => ask(item.bytes!, question), {
      save: (score) => ({ score }),
      load: (entry) => entry.score!,
    });
  };
  const scorer: Scorer<ScoreResult> = {
    name: cfg.name,
    needsCaption: true,
    identity: vlmScorerIdentity(cfg),
    doc: `VQAScore: P("Yes") from ${cfg.server.model} over an OpenAI-compatible server`,
    score: (batch) => Promise.all(batch.map((item) => limit(() => scoreOne(item, null)))),
    withCache: async (cacheFile, opts) => {
      const cache = await RequestCache.open(cacheFile, opts);
      return {
        ...scorer,
        score: (batch) => Promise.all(batch.map((item) => limit(() => scoreOne(item, cache)))),
        close: () => cache.close(),
      };
    },
  };
  return scorer;
}
