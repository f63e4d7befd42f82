// Writes configs/geneval-mini.jsonl, the fixed mini-GenEval prompt set (360 prompts, 60 per tag).
// Run: node --import tsx scripts/geneval-prompts.ts
import { writeFileSync } from 'node:fs';
import { genevalPrompts } from '../src/synth/geneval.ts';

writeFileSync(
  new URL('../configs/geneval-mini.jsonl', import.meta.url),
  genevalPrompts()
    .map((p) => JSON.stringify(p))
    .join('\n') + '\n',
);
