// The synthetic world: determinism, the detector's accuracy, mini-GenEval's judge, captions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generateScene, renderClean, renderScene } from '../src/synth/scene.ts';
import { detect } from '../src/synth/detector.ts';
import { genevalPrompts, judge, sceneForPrompt, summarise, TAGS } from '../src/synth/geneval.ts';
import { altText, clipTokenBound, longCaption, parseCaption, shortCaption } from '../src/synth/captions.ts';
import { mulberry32 } from '../src/util/random.ts';
import { BACKGROUNDS, COLOURS, COLOUR_NAMES } from '../src/synth/vocab.ts';
import { ROOT, runCli, snapshot, tmpDir, writePipeline } from './helpers.ts';

function accuracy(size: number, degradeProbability: number, n = 400): number {
  let total = 0;
  let found = 0;
  for (let i = 0; i < n; i++) {
    const rand = mulberry32(1000 + i);
    const scene = generateScene(rand, { minObjects: 1, maxObjects: 4, degradeProbability });
    if (degradeProbability === 0 && scene.cut) continue;
    const data = degradeProbability === 0 ? renderClean(scene, size) : renderScene(scene, size, rand);
    const dets = detect({ width: size, height: size, data });
    const used = new Set<number>();
    for (const o of scene.objects) {
      total++;
      const j = dets.findIndex(
        (d, k) => !used.has(k) && d.colour === o.colour && d.shape === o.shape && Math.hypot(d.x - o.x, d.y - o.y) < 0.1,
      );
      if (j >= 0) {
        used.add(j);
        found++;
      }
    }
  }
  return found / total;
}

test('the detector finds at least 95% of objects with the right shape and colour on clean renders', (t) => {
  const clean32 = accuracy(32, 0);
  const clean64 = accuracy(64, 0);
  const degraded32 = accuracy(32, 0.4);
  t.diagnostic(
    `detector accuracy: clean 32px ${clean32.toFixed(3)}, clean 64px ${clean64.toFixed(3)}, degraded 32px ${degraded32.toFixed(3)}`,
  );
  assert.ok(clean32 >= 0.95, `clean 32px accuracy ${clean32}`);
  assert.ok(clean64 >= 0.95, `clean 64px accuracy ${clean64}`);
  assert.ok(degraded32 < clean32, 'degradations make detection harder');
});

test('the detector does not take patch-sized blocks for objects: a mosaic of 4x4 blocks has almost none', () => {
  let detections = 0;
  for (let n = 0; n < 200; n++) {
    const rand = mulberry32(n);
    const data = new Float32Array(32 * 32 * 3);
    for (let p = 0; p < 1024; p++) data.set(BACKGROUNDS.gray, p * 3);
    for (let gy = 0; gy < 8; gy++)
      for (let gx = 0; gx < 8; gx++) {
        if (rand() >= 0.15) continue;
        const colour = COLOURS[COLOUR_NAMES[Math.floor(rand() * COLOUR_NAMES.length)]!];
        for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) data.set(colour, ((gy * 4 + y) * 32 + gx * 4 + x) * 3);
      }
    detections += detect({ width: 32, height: 32, data }).length;
  }
  // The detector before the shape-evidence rule found about 9 "objects" per such mosaic.
  assert.ok(detections / 200 < 0.05, `${detections / 200} detections per mosaic`);
});

test("mini-GenEval scores renders of the prompts' own scenes near 100% and mismatched scenes near chance", () => {
  const prompts = genevalPrompts();
  assert.equal(prompts.length, 360);
  assert.deepEqual([...new Set(prompts.map((p) => p.tag))], [...TAGS]);
  const rand = mulberry32(5);
  const render = (i: number) => detect({ width: 32, height: 32, data: renderClean(sceneForPrompt(prompts[i]!, rand), 32) });
  const own = summarise(prompts.map((p, i) => ({ tag: p.tag, correct: judge(p, render(i)) })));
  const mismatched = summarise(prompts.map((p, i) => ({ tag: p.tag, correct: judge(p, render((i + 7) % prompts.length)) })));
  assert.ok(own.overall >= 0.95, `own scenes: ${own.overall}`);
  assert.ok(mismatched.overall <= 0.3, `mismatched scenes: ${mismatched.overall}`);
});

test("the committed prompt file is the generator's output", () => {
  const file = readFileSync(path.join(ROOT, 'configs/geneval-mini.jsonl'), 'utf8');
  assert.equal(
    file,
    genevalPrompts()
      .map((p) => JSON.stringify(p))
      .join('\n') + '\n',
  );
});

test('captions: long captions parse back to the scene, short ones fit 77 tokens, alt text is imperfect', () => {
  let missing = 0;
  for (let i = 0; i < 300; i++) {
    const rand = mulberry32(i);
    const scene = generateScene(rand, { minObjects: 1, maxObjects: 4, degradeProbability: 0.4 });
    const long = longCaption(scene, i);
    const claims = parseCaption(long);
    assert.equal(claims.objects.length, scene.objects.length, long);
    assert.equal(claims.relations.length, Math.max(0, scene.objects.length - 1), long);
    const short = shortCaption(long);
    assert.ok(clipTokenBound(short) <= 77);
    const alt = parseCaption(altText(scene, rand)).objects.reduce((a, m) => a + m.count, 0);
    if (alt < scene.objects.length) missing++;
  }
  assert.ok(missing > 20 && missing < 200, `alt texts missing objects: ${missing}/300`);
});

test('the synth stage gives identical bytes for the same seed, and different ones for another', async () => {
  const dir = tmpDir();
  const yaml = (seed: number) => `name: s\nsettings: {shards: 2, seed: ${seed}}\nnodes:\n  synth: {uses: synth, with: {count: 60}}\n`;
  const a = await writePipeline(dir, 'a', yaml(1));
  const c = await writePipeline(dir, 'c', yaml(2));
  for (const [file, root] of [
    [a, 'r1'],
    [a, 'r2'],
    [c, 'r3'],
  ] as const)
    assert.equal((await runCli(['run', file], { env: { MIRO_DATA_ROOT: path.join(dir, root) } })).code, 0);
  const [r1, r2, r3] = (await Promise.all(['r1', 'r2', 'r3'].map((r) => snapshot(path.join(dir, r, 's/synth'))))) as [
    Map<string, Buffer>,
    Map<string, Buffer>,
    Map<string, Buffer>,
  ];
  assert.equal(r1.size, 2);
  for (const [k, v] of r1) {
    assert.ok(v.equals(r2.get(k)!), `${k} differs between runs with the same seed`);
    assert.ok(!v.equals(r3.get(k)!), `${k} is the same under another seed`);
  }
});
