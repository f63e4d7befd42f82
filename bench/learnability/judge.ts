// Scores the study's samples with mini-GenEval: each samples-<examples>-<setting>.npy in a run's
// folder holds one 32x32 image per prompt of genevalPrompts(), in order. Per tag: accuracy, and a
// chance control judging the same images against prompts shuffled within the tag (each image
// against the prompt half the tag away). Writes curve.json and prints a table.
//   node --import tsx bench/learnability/judge.ts bench/learnability/out/RUN [...]

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { detect } from '../../src/synth/detector.js';
import { TAGS, genevalPrompts, judge, shuffledWithinTag } from '../../src/synth/geneval.js';
import { contactSheet } from '../../src/synth/contact-sheet.js';

function readNpyU8(file: string): { data: Uint8Array; shape: number[] } {
  const buf = readFileSync(file);
  const len = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + len).toString('latin1');
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .filter((s) => s.trim())
    .map(Number);
  return { data: new Uint8Array(buf.buffer, buf.byteOffset + 10 + len), shape };
}

const prompts = genevalPrompts();
const shuffled = shuffledWithinTag(prompts);
for (const dir of process.argv.slice(2)) {
  const last = new Map<string, { file: string; data: Uint8Array; examples: string }>();
  const rows: Record<string, unknown>[] = [];
  for (const f of readdirSync(dir)
    .filter((f) => /^samples-\d+-\w+\.npy$/.test(f))
    .sort()) {
    const [, examples, setting] = /^samples-(\d+)-(\w+)\.npy$/.exec(f)!;
    const { data, shape } = readNpyU8(path.join(dir, f));
    const [n, h, w] = shape as [number, number, number];
    const detections = Array.from({ length: n }, (_, i) =>
      detect({ width: w, height: h, data: Float32Array.from(data.subarray(i * h * w * 3, (i + 1) * h * w * 3)) }),
    );
    const row: Record<string, unknown> = { examples: Number(examples), setting };
    let overall = 0;
    let overallChance = 0;
    for (const tag of TAGS) {
      const idx = prompts.flatMap((p, i) => (p.tag === tag ? [i] : []));
      const acc = idx.filter((i) => judge(prompts[i]!, detections[i]!)).length / idx.length;
      const chance = idx.filter((i) => judge(shuffled.get(prompts[i]!.id)!, detections[i]!)).length / idx.length;
      row[tag] = acc;
      row[`${tag}_chance`] = chance;
      overall += acc / TAGS.length;
      overallChance += chance / TAGS.length;
    }
    row.overall = overall;
    row.overall_chance = overallChance;
    row.objects_per_image = detections.reduce((a, d) => a + d.length, 0) / n;
    rows.push(row);
    last.set(setting!, { file: f, data, examples: examples! });
  }
  for (const [setting, { data, examples }] of last) {
    const pick = TAGS.flatMap((tag) => prompts.flatMap((p, i) => (p.tag === tag ? [i] : [])).slice(0, 8));
    const images = pick.map((i) => Float32Array.from(data.subarray(i * 3072, (i + 1) * 3072)));
    const sheet = await contactSheet(images, 32, {
      columns: 8,
      scale: 3,
      title: `${path.basename(dir)}, ${Number(examples)} examples, ${setting}`,
      labels: pick.map((i) => prompts[i]!.prompt),
    });
    writeFileSync(path.join(dir, `sheet-${setting}.png`), sheet);
  }
  writeFileSync(path.join(dir, 'curve.json'), JSON.stringify(rows, null, 1));
  console.log(`# ${dir}`);
  console.log(['examples', 'setting', 'overall', 'chance', ...TAGS, 'obj/img'].join('\t'));
  for (const r of rows)
    console.log(
      [r.examples, r.setting, ...['overall', 'overall_chance', ...TAGS, 'objects_per_image'].map((k) => (r[k] as number).toFixed(3))].join(
        '\t',
      ),
    );
}
