// Parameters shared by the stages that ask a VLM server (caption, short_caption), and the
// row loop that runs the captioner over a shard with its request cache.

import path from 'node:path';
import { readFileSync } from 'node:fs';
import { p } from './params.js';
import type { Batch, ColumnRef, ShardContext, Value } from './types.js';
import { shardName } from '../store/layout.js';
import { mapRows, type Row, type RowResult } from './base.js';
import { RowError } from '../errors.js';
import { OpenAICaptioner } from '../captioners/openai.js';
import { RequestCache, serverImage } from '../vlm/client.js';
import { sniffMime } from '../util/image.js';
import { defaultRetry } from '../util/fetch.js';
import { sha256 } from '../util/hash.js';
import { settings } from '../util/settings.js';

export const vlmParams = {
  image: p.optionalColumn({ doc: 'image bytes (captioner openai)' }),
  alt_text: p.optionalColumn({ doc: 'the real caption, inserted into the prompt as {alt_text}' }),
  server: p.string({ doc: 'OpenAI-compatible base URL, e.g. http://localhost:8000/v1', default: '' }),
  model: p.string({ doc: 'model name sent to the server (the paper: google/gemma-3-12b-it)', default: '' }),
  prompt: p.string({ doc: 'prompt file (configs/prompts/long.txt or short.txt)', default: '' }),
  max_tokens: p.int({ doc: 'max tokens of a reply', min: 1, default: 512 }),
  temperature: p.number({ doc: 'sampling temperature', min: 0, default: 0 }),
  concurrency: p.int({ doc: 'requests in flight', min: 1, default: 8 }),
  timeout_ms: p.int({ doc: 'per-request timeout', min: 1, default: 120_000 }),
  retries: p.int({ doc: 'retries on 429, 5xx, timeouts and resets', min: 0, default: defaultRetry.retries }),
  api_key_env: p.string({ doc: 'environment variable holding a bearer token', default: '' }),
};

export interface VlmParams {
  image: ColumnRef | null;
  alt_text: ColumnRef | null;
  server: string;
  model: string;
  prompt: string;
  max_tokens: number;
  temperature: number;
  concurrency: number;
  timeout_ms: number;
  retries: number;
  api_key_env: string;
}

export function validateVlm(prm: VlmParams): string | null {
  if (!prm.image || !prm.server || !prm.model || !prm.prompt) return 'captioner openai needs image, server, model and prompt';
  return null;
}

/** What the output depends on: model, prompt text and decoding parameters (not the server URL). */
export function vlmIdentity(prm: VlmParams): unknown {
  return {
    model: prm.model,
    prompt_sha256: sha256(readFileSync(prm.prompt, 'utf8')),
    max_tokens: prm.max_tokens,
    temperature: prm.temperature,
  };
}

/**
 * The shard loop of a stage that captions with the VLM server: rows with their image (and alt
 * text), captioned through the request cache; `extra` adds columns to each ok row.
 */
export async function* captionWithServer(
  ctx: ShardContext<VlmParams>,
  outputColumns: string[],
  extra: (row: Record<string, Value>) => Record<string, Value> = () => ({}),
): AsyncIterable<Batch> {
  const prm = ctx.params;
  const columns: Record<string, ColumnRef> = { image: prm.image! };
  if (prm.alt_text) columns.alt_text = prm.alt_text;
  const { process, close } = await openaiRows(ctx);
  try {
    yield* mapRows(ctx, { columns, batchRows: Math.max(64, prm.concurrency * 8) }, outputColumns, async (rows) =>
      (await process(rows)).map((r) => (r instanceof Error ? r : { ...r, ...extra(r) })),
    );
  } finally {
    await close();
  }
}

/** A process function for mapRows: caption each live row, through the shard's request cache. */
async function openaiRows(
  ctx: ShardContext<VlmParams>,
): Promise<{ process: (rows: Row[]) => Promise<RowResult[]>; close: () => Promise<void> }> {
  const prm = ctx.params;
  const captioner = new OpenAICaptioner({
    server: prm.server,
    model: prm.model,
    prompt: readFileSync(prm.prompt, 'utf8'),
    maxTokens: prm.max_tokens,
    temperature: prm.temperature,
    concurrency: prm.concurrency,
    retry: { ...defaultRetry, timeoutMs: prm.timeout_ms, retries: prm.retries },
    apiKey: prm.api_key_env ? settings().environment[prm.api_key_env] : undefined,
  });
  // --retry-failed asks again for rows whose cached answer was a failure (a reply without tags).
  const cache = await RequestCache.open(path.join(ctx.layout.cacheDir(), `shard-${shardName(ctx.shard)}.jsonl`), {
    retryFailures: ctx.retry !== null,
  });
  const captionRows = async (rows: Row[]): Promise<RowResult[]> => {
    const live = rows.filter((r) => r.image instanceof Uint8Array);
    const images = await Promise.all(live.map((r) => serverImage(r.image as Uint8Array).catch(() => null)));
    const results = await captioner.captionAll(
      live.map((r, i) => ({
        id: r.id,
        image: images[i]?.bytes ?? (r.image as Uint8Array),
        mime: images[i]?.mime ?? sniffMime(r.image as Uint8Array),
        altText: (r.alt_text as string | null) ?? null,
      })),
      cache,
    );
    const byId = new Map(live.map((r, i) => [r.id, results[i]!]));
    return rows.map((r): RowResult => {
      const res = byId.get(r.id);
      if (!res) return new RowError('no_image', 'image is NULL');
      if (res instanceof RowError) return res;
      const out: Record<string, Value> = {
        caption: res.caption,
        captioner: prm.model,
        prompt_sha256: captioner.promptSha,
        server_model: res.serverModel,
      };
      return out;
    });
  };
  return { process: captionRows, close: () => cache.close() };
}
