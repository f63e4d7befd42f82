// `miro release --format webdataset`: tar shards in the official trainer's layout, verified by
// `miro verify`, and read back sample for sample by an independent reader (Python's tarfile and
// json, parsing the .npy headers itself) against the Parquet release of the same run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { runCli, sql, tmpDir, writePipeline } from './helpers.ts';
import { writeFrozenModels } from './onnx-fixtures.ts';
import { tarHeader } from '../src/util/tar.ts';

const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import tarfile, json'], { stdio: 'ignore' }).status === 0);

const READER = String.raw`
import json, sys, tarfile, hashlib, struct, ast
expected = json.load(open(sys.argv[1]))
seen = {}
for shard in sys.argv[2:]:
    with tarfile.open(shard) as tar:
        for m in tar.getmembers():
            key, ext = m.name.split('.', 1)
            seen.setdefault(key, {})[ext] = tar.extractfile(m).read()
def npy(b):
    assert b[:6] == b'\x93NUMPY', 'npy magic'
    n = struct.unpack('<H', b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode('latin1'))
    return h['descr'], tuple(h['shape']), b[10 + n:]
problems = []
if sorted(seen) != sorted(expected):
    problems.append('ids differ: %d in tars, %d in the Parquet release' % (len(seen), len(expected)))
for key, want in expected.items():
    got = seen.get(key, {})
    if hashlib.sha256(got.get('jpg', b'')).hexdigest() != want['image_sha256']: problems.append(key + ': jpg bytes')
    if got.get('txt', b'').decode() != (want['caption'] or ''): problems.append(key + ': txt')
    meta = json.loads(got['json'])
    for k, v in want['json'].items():
        if v is None and k not in meta: continue
        if meta.get(k) != v and not (isinstance(v, float) and abs(meta.get(k, 1e9) - v) <= 1e-12 * max(1, abs(v))):
            problems.append('%s: json %s = %r, expected %r' % (key, k, meta.get(k), v))
    for member, (shape, hexdata) in want['npy'].items():
        if member not in got: problems.append(key + ': no ' + member); continue
        descr, s, data = npy(got[member])
        if descr != '<f2' or list(s) != shape or data.hex() != hexdata: problems.append('%s: %s is %s %s' % (key, member, descr, s))
print(json.dumps({'samples': len(seen), 'problems': problems[:10]}))
`;

test(
  'a webdataset release: official keys and scalings, latents and text states as .npy, verified, and read back by Python sample for sample',
  { skip: python ? false : 'no python3 here' },
  async () => {
    const dir = tmpDir('miro-wds-');
    const frozen = await writeFrozenModels(dir);
    const yaml = `name: wd
settings: {shards: 2, seed: 4}
nodes:
  synth: {uses: synth, with: {count: 40}}
  caption: {uses: caption, needs: [synth], with: {captioner: scene, scene: synth.scene}}
  short_caption: {uses: short_caption, needs: [caption], with: {summarizer: summary, caption: caption.caption}}
  score_colourfulness: {uses: score, needs: [synth], with: {scorer: colourfulness, image: synth.image}}
  score_objects: {uses: score, needs: [synth, short_caption], with: {scorer: objects, image: synth.image, caption: short_caption.caption}}
  bins:
    uses: bins
    needs: [score_colourfulness, score_objects]
    with: {num_bins: 4, rewards: {colourfulness: score_colourfulness.score, objects: score_objects.score}}
  latents: {uses: latents, needs: [synth], with: {vae: ${JSON.stringify(frozen.vae)}, image: synth.image}}
  embed_real: {uses: text_embed, needs: [synth], with: {encoder: ${JSON.stringify(frozen.textEncoder)}, caption: synth.caption}}
  embed_long: {uses: text_embed, needs: [caption], with: {encoder: ${JSON.stringify(frozen.textEncoder)}, caption: caption.caption}}
`;
    const file = await writePipeline(dir, 'wd', yaml);
    const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
    assert.equal((await runCli(['run', file], { env })).code, 0);
    const [pq, wds] = [path.join(dir, 'rel-parquet'), path.join(dir, 'rel-wds')];
    for (const [out, format] of [
      [pq, 'parquet'],
      [wds, 'webdataset'],
    ] as const) {
      const r = await runCli(['release', file, '--out', out, '--format', format, '--shard-rows', '16', '--license', 'cc-by-4.0'], { env });
      assert.equal(r.code, 0, r.stderr);
      const v = await runCli(['verify', out]);
      assert.equal(v.code, 0, v.stderr);
    }
    const manifest = JSON.parse(readFileSync(path.join(wds, 'release.json'), 'utf8'));
    const shards = manifest.files
      .filter((f: { path: string }) => f.path.endsWith('.tar'))
      .map((f: { path: string }) => path.join(wds, f.path));
    assert.deepEqual(
      shards.map((s: string) => path.basename(s)),
      ['train-00000-of-00003.tar', 'train-00001-of-00003.tar', 'train-00002-of-00003.tar'],
    );

    // What every sample must hold, from the Parquet release and the nodes' own Parquet.
    const rows = await sql(`SELECT * REPLACE (image.bytes AS image) FROM read_parquet('${pq}/data/*.parquet') ORDER BY id`); // the {bytes, path} struct
    const data = path.join(dir, 'data/wd');
    const blobs = await sql(
      `SELECT l.id, hex(l.latent_mean) AS mean, hex(l.latent_std) AS std, hex(r.embedding) AS real, r.tokens AS real_tokens, hex(s.embedding) AS syn, s.tokens AS syn_tokens
     FROM read_parquet('${data}/latents/*.parquet') l JOIN read_parquet('${data}/embed_real/*.parquet') r USING (id) JOIN read_parquet('${data}/embed_long/*.parquet') s USING (id)`,
    );
    const byId = new Map(blobs.map((b) => [String(b.id), b]));
    const expected = Object.fromEntries(
      rows.map((r) => {
        const b = byId.get(String(r.id))!;
        return [
          r.id,
          {
            image_sha256: createHash('sha256')
              .update(r.image as Uint8Array)
              .digest('hex'),
            caption: r.caption,
            json: {
              colourfulness_score: r.colourfulness_score, // no official key: raw, under <reward>_score (image only)
              synthetic_colourfulness_score: r.colourfulness_score,
              synthetic_objects_score: r.objects_score, // read the short synthetic caption
              synthetic_caption: r.caption_long,
              short_synthetic_caption: r.caption_short,
              miro: {
                scores: { colourfulness: r.colourfulness_score, objects: r.objects_score },
                bins: { colourfulness: r.colourfulness_bin, objects: r.objects_bin },
                targets: { colourfulness: r.colourfulness_target, objects: r.objects_target },
              },
            },
            npy: {
              'vae_embeddings_mean_32.npy': [[4, 4, 4], String(b.mean).toLowerCase()],
              'vae_embeddings_std_32.npy': [[4, 4, 4], String(b.std).toLowerCase()],
              'tiny_t5_embeddings.npy': [[Number(b.real_tokens), 8], String(b.real).toLowerCase()],
              'synthetic_tiny_t5_embeddings.npy': [[Number(b.syn_tokens), 8], String(b.syn).toLowerCase()],
            },
          },
        ];
      }),
    );
    const spec = path.join(dir, 'expected.json');
    await fs.writeFile(spec, JSON.stringify(expected));
    const read = spawnSync(python!, ['-c', READER, spec, ...shards], { encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    const verdict = JSON.parse(read.stdout) as { samples: number; problems: string[] };
    assert.deepEqual(verdict, { samples: 40, problems: [] });

    // A corrupted sample json is caught by verify.
    const tar = shards[0]!;
    const bytes = readFileSync(tar);
    const at = bytes.indexOf(Buffer.from('"miro":{"scores"'));
    bytes.write('"mirx"', at, 'latin1');
    await fs.writeFile(tar, bytes);
    const bad = await runCli(['verify', wds]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /train-00000-of-00003\.tar: sha256 /);
    assert.match(bad.stderr, /has no "miro" object in its json/);

    // A symlink member and a duplicate member, with release.json rewritten to match: still refused.
    const second = shards[1]!;
    const original = readFileSync(second);
    const link = tarHeader('evil.jpg', 0);
    link.write('2', 156, 'ascii'); // a symbolic link
    link.write('/etc/passwd', 157, 'utf8');
    link.write('        ', 148, 'ascii');
    let sum = 0;
    for (const b of link) sum += b;
    link.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    const firstJson = original.subarray(0, 512).toString('latin1').replace(/\0.*$/s, '');
    const dupData = Buffer.from('{}');
    const dup = Buffer.concat([
      tarHeader(firstJson.replace(/\.\w+$/, '.json'), dupData.length),
      dupData,
      Buffer.alloc(512 - dupData.length),
    ]);
    const tampered = Buffer.concat([original.subarray(0, original.length - 1024), link, dup, Buffer.alloc(1024)]);
    await fs.writeFile(second, tampered);
    for (const f of manifest.files)
      if (path.join(wds, f.path) === second)
        Object.assign(f, { sha256: createHash('sha256').update(tampered).digest('hex'), bytes: tampered.length });
    await fs.writeFile(path.join(wds, 'release.json'), JSON.stringify(manifest, null, 2));
    const refused = await runCli(['verify', wds]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /train-00001-of-00003\.tar: member evil\.jpg is not a regular file \(tar type "2"\)/);
    assert.match(refused.stderr, /train-00001-of-00003\.tar: member \S+\.json appears twice/);
  },
);

test('official keys and scalings for the paper rewards', async () => {
  const { OFFICIAL_SCORES } = await import('../src/release/webdataset.ts');
  const at = (r: string, x: number) => [OFFICIAL_SCORES[r]!.key, OFFICIAL_SCORES[r]!.scale(x)];
  assert.deepEqual(at('aesthetic', 6.5), ['aesthetic_score', 0.65]);
  assert.deepEqual(at('imagereward', 0.4), ['image_reward_score', 0.6]);
  assert.deepEqual(at('pickscore', 21.5), ['pick_a_score_score', 0.215]);
  assert.deepEqual(at('sciscore', 30), ['sciscore_score', 0.3]);
  assert.deepEqual(at('hpsv2', 0.27), ['hpsv2_score', 0.27]);
  assert.deepEqual(at('vqascore', 0.9), ['vqa_score', 0.9]);
  assert.deepEqual(at('jinaclip', 0.31), ['clip_score', 0.31]);
});
