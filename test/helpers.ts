// Shared fixtures for tests: temp folders, the CLI as a real child process, images made with sharp.

import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { connect, queryRows } from '../src/store/duck.ts';
import type { Value } from '../src/stages/types.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(ROOT, 'bin', 'miro.js');

/** A Python with PyTorch (MIRO_PYTHON, else Debian's, else python3 on PATH), or undefined. */
export const TORCH_PYTHON = [process.env.MIRO_PYTHON, '/usr/bin/python3', 'python3'].find(
  (py) => py && spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0,
);
export const NO_TORCH = 'no Python with PyTorch here (CI installs python3-torch; MIRO_PYTHON names another)';

export function tmpDir(prefix = 'miro-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function startCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  // Its own process group, so a test can kill the run with its children, as a crash would.
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, CI: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

/** SIGKILL to a run and every process it started. */
export function killRun(child: ChildProcess): void {
  process.kill(-child.pid!, 'SIGKILL');
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return startCli(args, opts).done;
}

/** A small PNG with a seeded colour and a rectangle, plus its sidecar caption. */
export async function writeImage(file: string, seed: number, size = 24, caption?: string): Promise<void> {
  const w = size;
  const h = size;
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = x > seed % (w / 2) && y > (seed * 7) % (h / 2);
      const o = (y * w + x) * 3;
      data[o] = inside ? (seed * 37) % 256 : 20;
      data[o + 1] = inside ? (seed * 91) % 256 : 40;
      data[o + 2] = (x * 9 + seed) % 256;
    }
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(file);
  if (caption !== undefined) await fs.writeFile(file.replace(/\.\w+$/, '.txt'), caption);
}

export async function writeImageFolder(dir: string, count: number, size = 24): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      writeImage(
        path.join(dir, String(Math.floor(i / 100)).padStart(5, '0'), `${String(i).padStart(6, '0')}.png`),
        i + 1,
        size,
        `image number ${i}`,
      ),
    ),
  );
}

/** The ids ingest gives a folder's PNGs (the first 16 hex digits of each file's sha256), sorted. */
export async function imageIds(dir: string): Promise<string[]> {
  const ids: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else if (e.name.endsWith('.png'))
        ids.push(
          createHash('sha256')
            .update(await fs.readFile(path.join(d, e.name)))
            .digest('hex')
            .slice(0, 16),
        );
    }
  };
  await walk(dir);
  return ids.sort();
}

export async function sql(query: string): Promise<Record<string, Value>[]> {
  const conn = await connect();
  try {
    return await queryRows(conn, query);
  } finally {
    conn.closeSync();
  }
}

/** Every file under a folder with its bytes, keyed by relative path (for byte-identity checks). */
export async function snapshot(
  dir: string,
  filter: (rel: string) => boolean = (r) => r.endsWith('.parquet'),
): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (filter(path.relative(dir, full))) out.set(path.relative(dir, full), await fs.readFile(full));
    }
  };
  await walk(dir);
  return out;
}

export async function writePipeline(dir: string, name: string, yaml: string): Promise<string> {
  const file = path.join(dir, `${name}.yaml`);
  await fs.writeFile(file, yaml);
  return file;
}

/**
 * Starts `miro run file`, kills it once the VLM server has seen `killAfter` requests, and runs it
 * again to the end. Returns the row ids the killed run had cached, the ones the resumed run asked
 * the server for again anyway, and the resumed run's result.
 */
export async function killAndResume(opts: {
  file: string;
  env: Record<string, string>;
  requests: Map<string, number>;
  total: () => number;
  cacheFile: string;
  killAfter: number;
}): Promise<{ cached: Set<string>; askedAgain: string[]; resumed: CliResult }> {
  const { child, done } = startCli(['run', opts.file], { env: opts.env });
  while (opts.total() < opts.killAfter) await new Promise((r) => setTimeout(r, 5));
  killRun(child);
  await done;
  const lines = (await fs.readFile(opts.cacheFile, 'utf8')).split('\n').filter(Boolean);
  const cached = new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id));
  const before = new Map(opts.requests);
  const resumed = await runCli(['run', opts.file], { env: opts.env });
  return { cached, askedAgain: [...cached].filter((id) => opts.requests.get(id) !== before.get(id)), resumed };
}

/** A pipeline that ingests a folder and captions it with a VLM server (extra `with:` keys after a comma). */
export function captionPipelineYaml(name: string, images: string, server: string, extra = '', model = 'google/gemma-3-12b-it'): string {
  return `name: ${name}
settings: {shards: 1}
nodes:
  ingest: {uses: ingest, with: {path: ${JSON.stringify(images)}}}
  caption:
    uses: caption
    needs: [ingest]
    with: {captioner: openai, image: ingest.image, alt_text: ingest.caption, server: ${JSON.stringify(server)}, model: ${model}, prompt: ${JSON.stringify(path.join(ROOT, 'configs/prompts/long.txt'))}${extra}}
`;
}

/** A pipeline that ingests a folder, scores sharpness and contrast, and bins them (4 bins): enough for a release. */
export function binnedPipelineYaml(name: string, images: string): string {
  return `name: ${name}
settings: {shards: 2}
nodes:
  ingest: {uses: ingest, with: {path: ${JSON.stringify(images)}}}
  score_sharpness: {uses: score, needs: [ingest], with: {scorer: sharpness, image: ingest.image}}
  score_contrast: {uses: score, needs: [ingest], with: {scorer: contrast, image: ingest.image}}
  bins: {uses: bins, needs: [score_sharpness, score_contrast], with: {num_bins: 4, rewards: {sharpness: score_sharpness.score, contrast: score_contrast.score}}}
`;
}

/**
 * Runs the `only` nodes of a pipeline into `root`, SIGKILLs the run as soon as `checkpoint` (a
 * file under `root`) exists, checks the train node did not commit, then runs the whole pipeline
 * again and returns that resumed run.
 */
export async function killAtCheckpointAndResume(
  file: string,
  root: string,
  only: string[],
  checkpoint: string,
  trainNodeDir: string,
): Promise<CliResult> {
  const env = { MIRO_DATA_ROOT: root };
  const { child, done } = startCli(['run', file, ...only.flatMap((n) => ['--only', n])], { env });
  while (!existsSync(path.join(root, checkpoint))) {
    if (child.exitCode !== null) throw new Error(`training ended before the kill: ${(await done).stderr}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  killRun(child);
  await done;
  if (existsSync(path.join(root, trainNodeDir, '_done/00000.json'))) throw new Error('the train node committed before the kill');
  return runCli(['run', file], { env });
}
