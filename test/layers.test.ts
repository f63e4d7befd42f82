// The layer rule of scripts/check-layers.ts holds for src/, and the check catches an import that
// points up a layer and an import cycle.

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkLayers } from '../scripts/check-layers.ts';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'miro-layers-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

test('src/ imports point one way and form no cycle', () => {
  assert.deepEqual(checkLayers(path.resolve('src')), []);
});

test('an import from the store up into the stages is reported with both files and layers', () => {
  const src = tree({
    'stages/types.ts': 'export interface Batch { rows: number }\n',
    'store/duck.ts': "import type { Batch } from '../stages/types.js';\nexport const x = 1;\n",
  });
  assert.deepEqual(checkLayers(src), ['src/store/duck.ts imports src/stages/types.ts: store may not import from the higher layer stages']);
});

test('a cycle between two files of one layer is reported, even through a dynamic import', () => {
  const src = tree({
    'scorers/index.ts': "export async function load() { return import('./vlm.js'); }\n",
    'scorers/vlm.ts': "import type { Scorer } from './index.js';\nexport type S = Scorer;\n",
  });
  assert.deepEqual(checkLayers(src), ['import cycle: src/scorers/index.ts <-> src/scorers/vlm.ts']);
});

test('a folder the rule does not know is an error, so new folders get a layer', () => {
  const src = tree({ 'gadgets/a.ts': "import { x } from '../util/b.js';\n", 'util/b.ts': 'export const x = 1;\n' });
  assert.throws(() => checkLayers(src), /folder "gadgets" has no layer/);
});

test('a cycle between folders is reported even when no file imports itself back', () => {
  const src = tree({
    'model/a.ts': "import { b } from '../scorers/b.js';\nexport const a = b;\n",
    'scorers/b.ts': 'export const b = 1;\n',
    'scorers/c.ts': "import { d } from '../model/d.js';\nexport const c = d;\n",
    'model/d.ts': 'export const d = 2;\n',
  });
  assert.deepEqual(checkLayers(src), [
    'folder cycle: model <-> scorers (through src/model/a.ts -> src/scorers/b.ts, src/scorers/c.ts -> src/model/d.ts)',
  ]);
});

test('a file below cli/ that reads process.env is reported; a comment that names it is not', () => {
  const src = tree({
    'cli/main.ts': 'export const root = process.env.MIRO_DATA_ROOT;\n',
    'store/duck.ts':
      '// MIRO_DUCKDB_THREADS, read from process.env by the CLI\nexport const threads = Number(process.env.MIRO_DUCKDB_THREADS);\n',
    'util/ok.ts': '/* process.env is read in cli/ */\nexport const y = 2;\n',
  });
  assert.deepEqual(checkLayers(src), ['src/store/duck.ts reads process.env: read it in cli/ into util/settings.ts, and use settings()']);
});
