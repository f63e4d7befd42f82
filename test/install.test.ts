// A plain `npm ci` installs offline with no warning: every installed package with an install
// script is named in package.json's allowScripts (npm 11 warns about, and still runs, the others),
// and onnxruntime-node's, which downloads CUDA libraries, is denied.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.ts';

function installed(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.name.startsWith('@')) out.push(...installed(full));
    else if (existsSync(path.join(full, 'package.json'))) {
      out.push(full);
      if (existsSync(path.join(full, 'node_modules'))) out.push(...installed(path.join(full, 'node_modules')));
    }
  }
  return out;
}

test('every installed package with an install script is covered by allowScripts; onnxruntime-node is denied', () => {
  const allow = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).allowScripts as Record<string, boolean>;
  assert.equal(allow['onnxruntime-node'], false);
  const uncovered: string[] = [];
  for (const dir of installed(path.join(ROOT, 'node_modules'))) {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; scripts?: Record<string, string> };
    const scripts = pkg.scripts ?? {};
    if ((scripts.preinstall || scripts.install || scripts.postinstall) && !(pkg.name in allow)) uncovered.push(pkg.name);
  }
  assert.deepEqual(uncovered, [], `packages with install scripts that allowScripts does not name: ${uncovered.join(', ')}`);
});
