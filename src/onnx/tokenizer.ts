// Tokenisation with a model's own tokenizer.json (@huggingface/tokenizers), padded or truncated
// to max_tokens. CLIP pools at the end-of-text token, and special tokens are added before
// truncation, so a long caption would lose its EOS: put it back in the last position.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MiroError } from '../errors.js';

export interface TextBatch {
  ids: BigInt64Array;
  mask: BigInt64Array;
}

export class PaddedTokenizer {
  private constructor(
    private readonly tok: { encode(text: string): { ids: number[] } },
    private readonly maxTokens: number,
    private readonly eos: number,
    private readonly pad: number,
  ) {}

  static async load(file: string, maxTokens: number, eos: number, pad: number): Promise<PaddedTokenizer> {
    let json: unknown;
    let config: unknown = {};
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new MiroError(`tokenizer ${file}: ${(err as Error).message}`);
    }
    try {
      config = JSON.parse(readFileSync(path.join(path.dirname(file), 'tokenizer_config.json'), 'utf8'));
    } catch {
      // optional
    }
    const { Tokenizer } = await import('@huggingface/tokenizers');
    return new PaddedTokenizer(new Tokenizer(json as object, config as object), maxTokens, eos, pad);
  }

  encode(texts: string[]): TextBatch {
    const T = this.maxTokens;
    const ids = new BigInt64Array(texts.length * T).fill(BigInt(this.pad));
    const mask = new BigInt64Array(texts.length * T);
    texts.forEach((text, i) => {
      // Word-level vocabularies can leave an unknown word without an id: count it as padding.
      let t = this.tok.encode(text).ids.map((id) => id ?? this.pad);
      if (t.length > T) t = [...t.slice(0, T - 1), this.eos];
      t.forEach((id, k) => {
        ids[i * T + k] = BigInt(id);
        mask[i * T + k] = 1n;
      });
    });
    return { ids, mask };
  }
}
