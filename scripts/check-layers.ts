// The layer rule, checked: imports under src/ point one way only,
//   cli -> release, serve -> dag -> stages -> components -> onnx -> store -> util,
// where the components (binning, captioners, eval, frozen, model, report, scorers, synth, train, vlm) may
// import one another, and no file imports itself back through a cycle, whatever the layers, nor
// any folder. The environment is read in cli/ only (util/settings.ts carries it below).
// Usage: node --import tsx scripts/check-layers.ts [SRC_DIR]; exits 1 and lists every violation.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const LAYERS: readonly (readonly string[])[] = [
  ['util', 'errors.ts'],
  ['store'],
  ['onnx'],
  ['binning', 'captioners', 'eval', 'frozen', 'model', 'report', 'scorers', 'synth', 'train', 'vlm'],
  ['stages'],
  ['dag'],
  ['release', 'serve'],
  ['cli'],
];

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s+'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of every .ts file under `src`, as [from, to] paths relative to `src`. */
export function importEdges(src: string): [string, string][] {
  const edges: [string, string][] = [];
  for (const file of sourceFiles(src)) {
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
      edges.push([path.relative(src, file), path.relative(src, target)]);
    }
  }
  return edges;
}

function layerOf(file: string): number {
  const top = file.split(path.sep)[0]!;
  const i = LAYERS.findIndex((l) => l.includes(top));
  if (i < 0) throw new Error(`src/${file}: folder "${top}" has no layer; add it to LAYERS in scripts/check-layers.ts`);
  return i;
}

/** Every import cycle among the files (strongly connected components of more than one file). */
export function cycles(edges: [string, string][]): string[][] {
  const next = new Map<string, string[]>();
  for (const [a, b] of edges) next.set(a, [...(next.get(a) ?? []), b]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** Every violation of the layer rule and every cycle, as messages; empty when the tree is clean. */
export function checkLayers(src: string): string[] {
  const edges = importEdges(src);
  const problems: string[] = [];
  for (const [from, to] of edges) {
    const a = layerOf(from);
    const b = layerOf(to);
    if (b > a) problems.push(`src/${from} imports src/${to}: ${LAYERS[a]![0]} may not import from the higher layer ${LAYERS[b]![0]}`);
  }
  for (const c of cycles(edges)) problems.push(`import cycle: ${c.map((f) => `src/${f}`).join(' <-> ')}`);
  // Folders too: no file cycle does not mean no folder cycle (model -> frozen -> scorers -> model).
  const folder = (f: string) => (f.includes(path.sep) ? f.split(path.sep)[0]! : f);
  const folderEdges = edges.map(([a, b]): [string, string] => [folder(a), folder(b)]).filter(([a, b]) => a !== b);
  for (const c of cycles(folderEdges)) {
    const through = edges.filter(([a, b]) => c.includes(folder(a)) && c.includes(folder(b)) && folder(a) !== folder(b));
    problems.push(`folder cycle: ${c.join(' <-> ')} (through ${through.map(([a, b]) => `src/${a} -> src/${b}`).join(', ')})`);
  }
  problems.push(...environmentReads(src));
  return problems;
}

/** The environment is read once, in cli/ (into util/settings.ts): any other file that reads process.env is reported. */
export function environmentReads(src: string): string[] {
  const out: string[] = [];
  for (const file of sourceFiles(src)) {
    const rel = path.relative(src, file);
    if (rel.split(path.sep)[0] === 'cli') continue;
    const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, ''); // comments do not count
    if (/\bprocess\.env\b/.test(code)) out.push(`src/${rel} reads process.env: read it in cli/ into util/settings.ts, and use settings()`);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const src = path.resolve(process.argv[2] ?? 'src');
  const problems = checkLayers(src);
  for (const p of problems) console.error(p);
  console.log(
    problems.length ? `layers: ${problems.length} problem(s)` : `layers: ok (${importEdges(src).length} imports, no file or folder cycles)`,
  );
  process.exit(problems.length ? 1 : 0);
}
