// A frozen ONNX text encoder (FLAN-T5-XL's encoder in the paper; a CLIP text tower works the
// same way): captions -> its own tokenizer.json -> input_ids and attention_mask -> per-token
// states [B, T, E]. Only the caption's own tokens are kept; padding carries no information.

import type * as Ort from 'onnxruntime-node';
import { filePath } from '../onnx/model-files.js';
import { openSession } from '../onnx/session.js';
import { PaddedTokenizer } from '../onnx/tokenizer.js';
import { MiroError } from '../errors.js';
import { loadTextEncoderConfig, type TextEncoderConfig } from './config.js';

/** One caption's states: `tokens` rows of `dim` values, row-major. */
export interface TokenStates {
  tokens: number;
  data: Float32Array;
}

export class OnnxTextEncoder {
  private constructor(
    readonly cfg: TextEncoderConfig,
    private readonly session: Ort.InferenceSession,
    private readonly tokenizer: PaddedTokenizer,
    private readonly ort: typeof Ort,
  ) {}

  static async load(configFile: string): Promise<OnnxTextEncoder> {
    const cfg = loadTextEncoderConfig(configFile);
    const [ort, session, tokenizer] = await Promise.all([
      import('onnxruntime-node'),
      openSession(cfg, 'model', 'text encoder'),
      PaddedTokenizer.load(filePath(cfg, 'tokenizer'), cfg.text.max_tokens, cfg.text.eos_token_id, cfg.text.pad_token_id),
    ]);
    return new OnnxTextEncoder(cfg, session, tokenizer, ort);
  }

  /** Encodes captions in batches of the config's batch_size. */
  async encode(captions: string[]): Promise<TokenStates[]> {
    const out: TokenStates[] = [];
    for (let start = 0; start < captions.length; start += this.cfg.batch_size)
      out.push(...(await this.encodeBatch(captions.slice(start, start + this.cfg.batch_size))));
    return out;
  }

  private async encodeBatch(captions: string[]): Promise<TokenStates[]> {
    const { text, output, embed_dim: E, name } = this.cfg;
    const T = text.max_tokens;
    const n = captions.length;
    const { ids, mask } = this.tokenizer.encode(captions);
    const feeds: Record<string, Ort.Tensor> = { [text.input_ids]: new this.ort.Tensor('int64', ids, [n, T]) };
    if (text.attention_mask) feeds[text.attention_mask] = new this.ort.Tensor('int64', mask, [n, T]);
    const result = await this.session.run(feeds);
    const states = result[output];
    if (!states)
      throw new MiroError(`text encoder ${name}: the model has no output "${output}" (it has ${Object.keys(result).join(', ')})`);
    const dims = states.dims.join('x');
    if (states.dims.length !== 3 || states.dims[0] !== n || states.dims[1] !== T || states.dims[2] !== E)
      throw new MiroError(
        `text encoder ${name}: output ${output} is ${dims}, expected ${n}x${T}x${E} (batch x text.max_tokens x embed_dim)`,
      );
    const data = states.data as Float32Array;
    return captions.map((_, i) => {
      let tokens = 0;
      while (tokens < T && mask[i * T + tokens] === 1n) tokens++;
      return { tokens, data: data.slice(i * T * E, (i * T + tokens) * E) };
    });
  }
}
