// The README's "Your own images in five minutes", command for command: the block after its
// walkthrough marker runs in a fresh folder holding test/photos/ (with a caption and a broken
// image), as a user would run it from a checkout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, runCli, tmpDir } from './helpers.ts';

/** Shell-like words: double-quoted strings stay one word; `#` starts a comment. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.replace(/\s+#.*$/, '').matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

test("the README's own-images walkthrough runs as written", async () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- walkthrough[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README has a walkthrough block');
  const commands = block.split('\n').filter((l) => l.startsWith('npx miro '));
  assert.ok(commands.length >= 5, block);

  const dir = tmpDir();
  mkdirSync(path.join(dir, 'my-images'));
  mkdirSync(path.join(dir, 'pipelines'));
  for (const f of readdirSync(path.join(ROOT, 'test/photos')).filter((f) => /\.(jpg|png)$/.test(f)))
    cpSync(path.join(ROOT, 'test/photos', f), path.join(dir, 'my-images', f));
  writeFileSync(path.join(dir, 'my-images', 'coffee-600x400.txt'), 'a cup of coffee');
  writeFileSync(path.join(dir, 'my-images', 'broken.jpg'), 'not an image');
  cpSync(path.join(ROOT, 'pipelines/my-images.yaml'), path.join(dir, 'pipelines/my-images.yaml'));

  const outputs: string[] = [];
  for (const line of commands) {
    const r = await runCli(words(line).slice(2), { cwd: dir });
    assert.equal(r.code, 0, `${line}\n${r.stderr}`);
    outputs.push(r.stdout + r.stderr);
  }
  const all = outputs.join('\n');
  assert.match(all, /done: 6 node\(s\) ran/);
  assert.match(all, /broken\.jpg .*decode_error/);
  assert.match(all, /releases\/my-images: ok \(3 files, 9 rows/);
  assert.ok(existsSync(path.join(dir, 'data/my-images/bins/_done/00000.json')), 'data lands under ./data');
  assert.ok(existsSync(path.join(dir, 'releases/my-images/release.json')));
});
