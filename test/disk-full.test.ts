// A disk that fills mid-node: the run fails with an error that names the node and shard, every
// shard committed before stays intact (its marker's sha256 matches its file), and the run
// resumes once there is room, redoing only what was not committed. Needs root to mount a small
// tmpfs; skipped where mounting is not allowed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { runCli, tmpDir, writePipeline } from './helpers.ts';

function mount(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' }).status === 0;
}

test('a full disk fails the node with a clear error, keeps committed shards, and resumes later', async (t) => {
  const dir = tmpDir();
  const small = path.join(dir, 'small');
  if (!mount(small, '160k')) return t.skip('cannot mount a tmpfs here (needs root)');
  const big = path.join(dir, 'big');
  try {
    const file = await writePipeline(
      dir,
      'full',
      'name: full\nsettings: {shards: 8, seed: 3}\nnodes:\n  synth: {uses: synth, with: {count: 400, degrade_probability: 0.9}}\n',
    );
    const first = await runCli(['run', file], { env: { MIRO_DATA_ROOT: small } });
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /node synth, shard \d+: .*(No space left|ENOSPC|Could not write|disk)/i);

    const nodeDir = path.join(small, 'full/synth');
    assert.deepEqual(
      readdirSync(nodeDir).filter((f) => f.endsWith('.tmp')),
      [],
      'the half-written file is removed',
    );
    const markers = readdirSync(path.join(nodeDir, '_done')).filter((f) => /^\d+\.json$/.test(f));
    assert.ok(markers.length >= 1 && markers.length < 8, `committed before the disk filled: ${markers.length}`);
    const committed = new Map<string, string>();
    for (const m of markers) {
      const marker = JSON.parse(readFileSync(path.join(nodeDir, '_done', m), 'utf8')) as { shard: number; sha256: string };
      const part = path.join(nodeDir, `part-${String(marker.shard).padStart(5, '0')}.parquet`);
      assert.equal(createHash('sha256').update(readFileSync(part)).digest('hex'), marker.sha256, `${part} is damaged`);
      committed.set(m, readFileSync(path.join(nodeDir, '_done', m), 'utf8'));
    }

    // Room again: the same data on a bigger disk; the run finishes and keeps the committed shards.
    if (!mount(big, '16m')) return t.skip('cannot mount a second tmpfs');
    spawnSync('cp', ['-a', `${small}/.`, big]);
    const second = await runCli(['run', file], { env: { MIRO_DATA_ROOT: big } });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, new RegExp(`\\[synth\\] shard not committed: ${8 - markers.length} shard\\(s\\)`));
    for (const [m, text] of committed) assert.equal(readFileSync(path.join(big, 'full/synth/_done', m), 'utf8'), text, `${m} was redone`);
    assert.equal(readdirSync(path.join(big, 'full/synth/_done')).filter((f) => /^\d+\.json$/.test(f)).length, 8);
  } finally {
    for (const d of [small, big]) if (existsSync(d)) spawnSync('umount', [d], { stdio: 'ignore' });
  }
});
