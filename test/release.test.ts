// Releases: byte-identical from two runs with the same seed, verify catches every kind of damage,
// failed rows are excluded and counted, and a model trained from a release names its hash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { parse as parseYaml } from 'yaml';
import {
  binnedPipelineYaml,
  runCli,
  tmpDir,
  writePipeline,
  writeImageFolder,
  snapshot,
  sql,
  ROOT,
  TORCH_PYTHON,
  NO_TORCH,
} from './helpers.ts';
import { readSafetensors } from '../src/util/safetensors.ts';

const DATA_NODES = [
  'synth',
  'caption',
  'short_caption',
  'score_colourfulness',
  'score_sharpness',
  'score_contrast',
  'score_cleanliness',
  'score_objects',
  'score_counting',
  'score_position',
  'bins',
];
const only = DATA_NODES.flatMap((n) => ['--only', n]);

async function cutCiRelease(root: string, out: string): Promise<void> {
  const env = { MIRO_DATA_ROOT: root };
  const run = await runCli(['run', 'pipelines/ci.yaml', ...only], { env });
  assert.equal(run.code, 0, run.stderr);
  const rel = await runCli(['release', 'pipelines/ci.yaml', '--out', out, '--shard-rows', '128', '--license', 'cc-by-4.0'], { env });
  assert.equal(rel.code, 0, rel.stderr);
}

test('two runs from scratch with the same seed give byte-identical releases, and verify catches damage', async (t) => {
  const dir = tmpDir();
  const [a, b] = [path.join(dir, 'rel-a'), path.join(dir, 'rel-b')];
  await cutCiRelease(path.join(dir, 'run-a'), a);
  await cutCiRelease(path.join(dir, 'run-b'), b);
  const fa = await snapshot(a, () => true);
  const fb = await snapshot(b, () => true);
  assert.deepEqual([...fa.keys()].sort(), [
    'README.md',
    'bin_edges.parquet',
    'data/train-00000-of-00003.parquet',
    'data/train-00001-of-00003.parquet',
    'data/train-00002-of-00003.parquet',
    'examples.png',
    'release.json',
  ]);
  for (const [k, v] of fa) {
    if (k === 'release.json' || k === 'README.md') continue; // they name the release folder
    assert.ok(v.equals(fb.get(k)!), `${k} differs between runs`);
  }
  const strip = (buf: Buffer) => buf.toString().replaceAll('rel-a', 'X').replaceAll('rel-b', 'X');
  assert.equal(strip(fa.get('release.json')!), strip(fb.get('release.json')!));

  const ok = await runCli(['verify', a]);
  assert.equal(ok.code, 0, ok.stderr);
  const card = fa.get('README.md')!.toString();
  // The card shows a grid of 16 released images, beside the data and hashed in release.json.
  assert.match(card, /!\[16 of the released images\]\(examples\.png\)/);
  assert.equal(fa.get('examples.png')!.subarray(1, 4).toString(), 'PNG');
  // The card's front matter, read as YAML: what the Hub viewer and datasets.load_dataset read.
  const meta = parseYaml(card.split('---\n')[1]!) as Record<string, any>;
  assert.equal(meta.license, 'cc-by-4.0');
  assert.deepEqual(meta.task_categories, ['text-to-image']);
  assert.deepEqual(meta.size_categories, ['n<1K']);
  assert.deepEqual(meta.language, ['en']);
  assert.ok(meta.tags.includes('miro'));
  assert.deepEqual(
    meta.configs.map((c: { config_name: string }) => c.config_name),
    ['default', 'bin_edges'],
  );
  const features = meta.dataset_info[0].features as { name: string; dtype: string }[];
  assert.equal(features.find((f) => f.name === 'image')!.dtype, 'image');
  assert.equal(features.find((f) => f.name === 'colourfulness_score')!.dtype, 'float64');
  assert.equal(meta.dataset_info[0].splits[0].num_examples, 300);
  const rows = await sql(`SELECT count(*) AS n FROM read_parquet('${a}/data/*.parquet')`);
  assert.equal(rows[0]!.n, 300);
  // Images load as images in Hugging Face datasets: the {bytes, path} struct, and the huggingface
  // features in the Parquet schema metadata (what load_dataset("parquet", ...) reads).
  assert.equal(JSON.parse(fa.get('release.json')!.toString()).format, 'miro-release/2');
  const [img] = await sql(
    `SELECT typeof(image) AS t, image.path AS p, hex(image.bytes[1:4]) AS magic FROM read_parquet('${a}/data/train-00000-of-00003.parquet') ORDER BY id LIMIT 1`,
  );
  assert.equal(img!.t, 'STRUCT(bytes BLOB, path VARCHAR)');
  assert.match(String(img!.p), /^[\w-]+\.png$/);
  assert.equal(img!.magic, '89504E47');
  const [kv] = await sql(
    `SELECT decode(value) AS v FROM parquet_kv_metadata('${a}/data/train-00000-of-00003.parquet') WHERE decode(key) = 'huggingface'`,
  );
  const hf = JSON.parse(String(kv!.v)) as { info: { features: Record<string, { _type: string; dtype?: string }> } };
  assert.deepEqual(hf.info.features.image, { _type: 'Image' });
  assert.deepEqual(hf.info.features.colourfulness_bin, { dtype: 'int32', _type: 'Value' });
  assert.deepEqual(hf.info.features.caption, { dtype: 'string', _type: 'Value' });
  // Where Hugging Face datasets is importable (with Pillow), load_dataset("parquet") gives PIL images.
  const python = ['/usr/bin/python3', 'python3'].find(
    (p) => spawnSync(p, ['-c', 'import datasets, PIL'], { encoding: 'utf8' }).status === 0,
  );
  if (python) {
    const load = spawnSync(
      python,
      [
        '-c',
        `import datasets, json, sys
ds = datasets.load_dataset('parquet', data_files=sys.argv[1] + '/data/*.parquet', split='train')
im = ds[0]['image']
print(json.dumps([type(ds.features['image']).__name__, type(im).__module__, im.size[0], len(ds)]))`,
        a,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(load.status, 0, load.stderr);
    assert.deepEqual(JSON.parse(load.stdout.trim().split('\n').at(-1)!), ['Image', 'PIL.PngImagePlugin', 32, 300]);
  } else t.diagnostic('Hugging Face datasets is not importable here: the image features were checked in the Parquet metadata only');

  // Damage b four ways; verify names each.
  const data0 = path.join(b, 'data/train-00000-of-00003.parquet');
  const bytes = await fs.readFile(data0);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  await fs.writeFile(data0, bytes);
  await fs.rm(path.join(b, 'data/train-00001-of-00003.parquet'));
  await fs.writeFile(path.join(b, 'data/extra.parquet'), 'x');
  const data2 = path.join(b, 'data/train-00002-of-00003.parquet');
  await sql(`COPY (SELECT * FROM read_parquet('${data2}') ORDER BY id LIMIT 10) TO '${data2}.new' (FORMAT parquet, COMPRESSION zstd)`);
  await fs.rename(`${data2}.new`, data2);
  const bad = await runCli(['verify', b]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /data\/train-00000-of-00003\.parquet: sha256 /);
  assert.match(bad.stderr, /data\/train-00001-of-00003\.parquet: missing/);
  assert.match(bad.stderr, /data\/extra\.parquet: extra file/);
  assert.match(bad.stderr, /data\/train-00002-of-00003\.parquet: 10 rows, release\.json says 44/);
});

test('a release from a run with failed rows excludes and counts them', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 30);
  await fs.writeFile(path.join(images, 'broken.png'), 'not an image');
  const file = await writePipeline(dir, 'failing', binnedPipelineYaml('failing', images));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const out = path.join(dir, 'rel');
  const rel = await runCli(['release', file, '--out', out, '--license', 'cc-by-4.0'], { env });
  assert.equal(rel.code, 0, rel.stderr);
  assert.match(rel.stdout, /30 rows in 1 data file\(s\); excluded 1 failed, 0 by --where/);
  const m = JSON.parse(readFileSync(path.join(out, 'release.json'), 'utf8'));
  assert.deepEqual(m.counts, { rows: 30, excluded_failed: 1, excluded_by_where: 0 });
  assert.match(readFileSync(path.join(out, 'README.md'), 'utf8'), /Excluded because scoring failed: 1\./);
  assert.equal((await runCli(['verify', out])).code, 0);

  const filtered = await runCli(
    ['release', file, '--out', path.join(dir, 'rel2'), '--where', 'sharpness_bin >= 2', '--license', 'cc-by-4.0'],
    { env },
  );
  assert.equal(filtered.code, 0, filtered.stderr);
  assert.match(filtered.stdout, /excluded 1 failed, \d+ by --where/);
  // A release killed with -9 left its temporary folder: the next release to that place removes it.
  const abandoned = path.join(dir, 'rel3.tmp-999999');
  await fs.mkdir(path.join(abandoned, 'data'), { recursive: true });
  const none = await runCli(
    ['release', file, '--out', path.join(dir, 'rel3'), '--where', 'sharpness_bin > 1000', '--license', 'cc-by-4.0'],
    { env },
  );
  assert.equal(none.code, 1);
  assert.match(none.stderr, /--where "sharpness_bin > 1000" matches none of the \d+ rows: nothing to release/);
  assert.ok(!existsSync(path.join(dir, 'rel3')), 'no empty release was cut');
  assert.ok(!existsSync(abandoned), 'the abandoned temporary folder of a dead process is gone');
  const again = await runCli(['release', file, '--out', out, '--license', 'cc-by-4.0'], { env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists and is not empty; releases are never overwritten/);
});

test('--license is required (or explicitly unset); --images path keeps real extensions, hashes every image, and verify catches a deleted, an added and a corrupted image', async () => {
  const dir = tmpDir();
  const images = path.join(dir, 'images');
  await writeImageFolder(images, 12);
  // Two JPEGs among the PNGs: released under .jpg, not .png.
  for (const i of [0, 1])
    await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: 40 * i, g: 90, b: 200 } } })
      .jpeg()
      .toFile(path.join(images, `photo${i}.jpg`));
  const file = await writePipeline(dir, 'paths', binnedPipelineYaml('paths', images));
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const noLicense = await runCli(['release', file, '--out', path.join(dir, 'x')], { env });
  assert.equal(noLicense.code, 1);
  assert.match(noLicense.stderr, /give --license/);
  const madeUp = await runCli(['release', file, '--out', path.join(dir, 'y'), '--license', 'cc-by-4'], { env });
  assert.equal(madeUp.code, 2);
  assert.match(madeUp.stderr, /--license cc-by-4: not a license id the Hugging Face Hub knows \(did you mean "cc-by-4.0"\?\)/);
  const unset = await runCli(['release', file, '--out', path.join(dir, 'unset'), '--license', 'unset'], { env });
  assert.equal(unset.code, 0, unset.stderr);
  const frontMatter = (dir: string) =>
    parseYaml(readFileSync(path.join(dir, 'README.md'), 'utf8').split('---\n')[1]!) as Record<string, any>;
  assert.deepEqual([frontMatter(path.join(dir, 'unset')).license, frontMatter(path.join(dir, 'unset')).license_name], ['other', 'unset']);
  assert.match(frontMatter(path.join(dir, 'unset')).pretty_name, /^paths: images scored and binned for MIRO \(2 rewards\)$/);
  const card = readFileSync(path.join(dir, 'unset', 'README.md'), 'utf8');
  assert.match(card, /## Limitations\n/);
  assert.match(card, /## Citation\n\n```bibtex\n@article\{dufour2025miro,/);

  const out = path.join(dir, 'rel');
  const rel = await runCli(['release', file, '--out', out, '--images', 'path', '--license', 'other:research-only'], { env });
  assert.equal(rel.code, 0, rel.stderr);
  const rows = await sql(`SELECT id, image FROM read_parquet('${out}/data/*.parquet') ORDER BY id`);
  assert.equal(rows.length, 14);
  const exts = rows.map((r) => path.extname(String(r.image)));
  assert.deepEqual([exts.filter((e) => e === '.jpg').length, exts.filter((e) => e === '.png').length], [2, 12]);
  for (const r of rows) assert.ok((await fs.stat(path.join(out, String(r.image)))).isFile());
  const index = await sql(`SELECT path, sha256 FROM read_parquet('${out}/images.parquet') ORDER BY path`);
  assert.equal(index.length, 14);
  assert.equal(
    index[0]!.sha256,
    createHash('sha256')
      .update(readFileSync(path.join(out, String(index[0]!.path))))
      .digest('hex'),
  );
  const meta = frontMatter(out);
  assert.deepEqual([meta.license, meta.license_name], ['other', 'research-only']);
  assert.equal(meta.dataset_info[0].features.find((f: { name: string }) => f.name === 'image').dtype, 'string');
  assert.equal((await runCli(['verify', out])).code, 0);

  await fs.rm(path.join(out, String(index[0]!.path)));
  await fs.writeFile(path.join(out, 'images', 'extra.png'), 'not listed');
  const corrupt = path.join(out, String(index[1]!.path));
  const bytes = readFileSync(corrupt);
  bytes[bytes.length - 1]! ^= 0xff;
  await fs.writeFile(corrupt, bytes);
  const bad = await runCli(['verify', out]);
  assert.equal(bad.code, 1);
  assert.ok(bad.stderr.includes(`${index[0]!.path}: missing`), bad.stderr);
  assert.ok(bad.stderr.includes('images/extra.png: extra image file, not in images.parquet'), bad.stderr);
  assert.match(bad.stderr, new RegExp(`${String(index[1]!.path).replace('.', '\\.')}: \\d+ bytes, sha256 .*images\\.parquet says`));
});

test('training from a release records the release manifest hash in every checkpoint and the model; miro_data reads both from Python', async (t) => {
  const dir = tmpDir();
  const rel = path.join(dir, 'rel');
  await cutCiRelease(path.join(dir, 'run'), rel);
  const hash = createHash('sha256')
    .update(readFileSync(path.join(rel, 'release.json')))
    .digest('hex');
  const file = await writePipeline(
    dir,
    'fromrel',
    `name: fromrel
nodes:
  train: {uses: train, with: {release: ${JSON.stringify(rel)}, steps: 2, batch_size: 8, warmup_steps: 1, checkpoint_every: 1, eval_samples: 0}}
`,
  );
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const res = await runCli(['run', file], { env });
  assert.equal(res.code, 0, res.stderr);
  const nodeDir = path.join(dir, 'data/fromrel/train');
  for (const step of ['step-0000001', 'step-0000002']) {
    const state = JSON.parse(readFileSync(path.join(nodeDir, '_checkpoints', step, 'state.json'), 'utf8'));
    assert.deepEqual(state.data_source, { kind: 'release', hash });
  }
  const cfg = JSON.parse(readFileSync(path.join(nodeDir, '_model/config.json'), 'utf8'));
  assert.equal(cfg.metadata.data_sha256, hash);
  assert.deepEqual(cfg.rewards, ['colourfulness', 'sharpness', 'contrast', 'cleanliness', 'objects', 'counting', 'position']);

  // The same run and release from Python (python/miro_data): the model in PyTorch with every EMA
  // tensor, the node's committed parts, and, where pyarrow is importable, the rows.
  if (!TORCH_PYTHON) return t.diagnostic(NO_TORCH);
  const ema = await readSafetensors(path.join(nodeDir, '_model/ema.safetensors'));
  const weights = [...ema.tensors.values()].reduce((n, x) => n + x.data.length, 0);
  const py = spawnSync(
    TORCH_PYTHON,
    [
      '-c',
      `import json, sys
from miro_data import committed_parts, load_model, read_node, read_release, MiroDataError
model, cfg = load_model(sys.argv[1])
out = {'params': sum(p.numel() for p in model.parameters()), 'rewards': cfg['rewards'], 'parts': [p.split('/')[-1] for p in committed_parts(sys.argv[1])]}
try:
    out['node_rows'] = read_node(sys.argv[1]).num_rows
    out['release_rows'] = read_release(sys.argv[2], columns=['id']).num_rows
except MiroDataError as err:
    out['no_pyarrow'] = str(err)
print(json.dumps(out))`,
      nodeDir,
      rel,
    ],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        PYTHONPATH: [path.join(ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(':'),
        OPENBLAS_NUM_THREADS: '1',
      },
    },
  );
  assert.equal(py.status, 0, py.stderr);
  const got = JSON.parse(py.stdout.trim().split('\n').at(-1)!);
  assert.equal(got.params, weights);
  assert.deepEqual(got.rewards, cfg.rewards);
  assert.deepEqual(got.parts, ['part-00000.parquet']);
  if (got.no_pyarrow) t.diagnostic(`miro_data read no Parquet: ${got.no_pyarrow}`);
  else {
    assert.equal(got.node_rows, 2); // one metrics row per step
    assert.equal(got.release_rows, 300);
  }
});

test('a release whose every score sits exactly on a bin edge verifies (one bucketize, exact edge literals)', async () => {
  const dir = tmpDir();
  const out = path.join(dir, 'rel');
  await cutCiRelease(path.join(dir, 'run'), out);
  const manifest = JSON.parse(readFileSync(path.join(out, 'release.json'), 'utf8'));
  const B: number = manifest.bin_edges.num_bins;
  // Row k of each reward gets edge k mod (B + 1) as its score. With strictly increasing edges,
  // bucketize(edge k) = k, so its bin is min(B - 1, max(0, k - 1)): computed here from k alone.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const conn = await (await DuckDBInstance.create(':memory:')).connect();
  let onEdges = 0;
  for (const f of manifest.files.filter((x: { path: string }) => x.path.startsWith('data/'))) {
    const file = path.join(out, f.path);
    const sets: string[] = [];
    for (const r of manifest.rewards as string[]) {
      const edges: number[] = manifest.bin_edges.edges[r].edges;
      if (!edges.every((e, i) => i === 0 || e > edges[i - 1]!)) continue;
      const list = `[${edges.map((e) => `'${e.toPrecision(17)}'::DOUBLE`).join(', ')}]`;
      const k = `((rn - 1) % ${B + 1})`;
      sets.push(
        `${list}[${k} + 1] AS "${r}_score"`,
        `least(${B - 1}, greatest(0, ${k} - 1))::INTEGER AS "${r}_bin"`,
        `least(${B - 1}, greatest(0, ${k} - 1)) / ${B - 1}::DOUBLE AS "${r}_target"`,
      );
    }
    assert.ok(sets.length >= 3, 'some reward has strictly increasing edges');
    const cols = sets.map((s) => s.replace(/.* AS /, ''));
    await conn.run(
      `COPY (SELECT * REPLACE (${sets.join(', ')}) FROM (SELECT *, row_number() OVER (ORDER BY id) AS rn FROM read_parquet('${file}')) ORDER BY id)
       TO '${file}.new' (FORMAT parquet, COMPRESSION zstd)`,
    );
    await conn.run(
      `COPY (SELECT * EXCLUDE (rn) FROM read_parquet('${file}.new') ORDER BY id) TO '${file}' (FORMAT parquet, COMPRESSION zstd)`,
    );
    await fs.rm(`${file}.new`);
    onEdges += cols.length / 3;
    const bytes = readFileSync(file);
    f.sha256 = createHash('sha256').update(bytes).digest('hex');
    f.bytes = bytes.length;
  }
  conn.closeSync();
  assert.ok(onEdges > 0);
  await fs.writeFile(path.join(out, 'release.json'), JSON.stringify(manifest, null, 2));
  const res = await runCli(['verify', out]);
  assert.equal(res.code, 0, res.stdout + res.stderr);
});
