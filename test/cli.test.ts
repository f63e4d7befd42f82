// The CLI as a user meets it: --help on every command names every option, --version, bad values
// exit 2 naming the option, typos get suggestions, a closed pipe ends quietly, and `miro sql`
// exports round-trip doubles, 64- and 128-bit integers, lists and structs exactly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, runCli, sql, tmpDir, writePipeline } from './helpers.ts';
import { program } from '../src/cli/main.ts';

const commands = program().commands.flatMap((c) =>
  c.commands.length ? c.commands.map((s) => ({ path: [c.name(), s.name()], cmd: s })) : [{ path: [c.name()], cmd: c }],
);

test('every command answers --help with exit 0 and names each of its options', async () => {
  assert.ok(commands.length >= 8);
  for (const { path: argv, cmd } of commands) {
    const r = await runCli([...argv, '--help']);
    assert.equal(r.code, 0, `${argv.join(' ')} --help: ${r.stderr}`);
    for (const o of cmd.options.filter((x) => !x.hidden))
      assert.ok(r.stdout.includes(o.long!), `${argv.join(' ')} --help does not name ${o.long}`);
  }
  const top = await runCli(['--help']);
  assert.equal(top.code, 0);
  for (const name of [
    'run',
    'status',
    'sql',
    'release',
    'verify',
    'sample',
    'report',
    'models',
    'MIRO_DATA_ROOT',
    'MIRO_TF_BACKEND',
    'Exit codes',
  ])
    assert.ok(top.stdout.includes(name), `miro --help lacks ${name}`);
});

test('--version prints the package version, with no npm warning through npx', () => {
  const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
  const r = spawnSync('npx', ['miro', '--version'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
  assert.doesNotMatch(r.stderr, /npm warn/i);
});

test('a bad value for each numeric or enumerated option exits 2 and names the option', async () => {
  const cases: [string[], string][] = [
    [['run', 'p.yaml', '--rank', 'x'], '--rank'],
    [['run', 'p.yaml', '--world', '0'], '--world'],
    [['run', 'p.yaml', '--jobs', '1.5'], '--jobs'],
    [['run', 'p.yaml', '--wait-timeout', '-1'], '--wait-timeout'],
    [['release', 'p.yaml', '--out', 'r', '--shard-rows', 'many'], '--shard-rows'],
    [['release', 'p.yaml', '--out', 'r', '--images', 'inline'], '--images'],
    [['sample', 'm', '--prompt', 'a', '--guidance', 'abc'], '--guidance'],
    [['sample', 'm', '--prompt', 'a', '--steps', 'foo'], '--steps'],
    [['sample', 'm', '--prompt', 'a', '--n', '0'], '--n'],
    [['sample', 'm', '--prompt', 'a', '--seed', '-3'], '--seed'],
    [['sample', 'm', '--prompt', 'a', '--target', 'aesthetic=2'], '--target'],
    [['sample', 'm', '--prompt', 'a', '--negative-caption', 'none'], '--negative-caption'],
    [['sql', 'p.yaml', 'SELECT 1', '--format', 'xml'], '--format'],
  ];
  for (const [argv, option] of cases) {
    const r = await runCli(argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.ok(r.stderr.includes(option), `${argv.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('typos get suggestions; missing files and folders are named, without stack traces', async () => {
  const dir = tmpDir();
  const file = await writePipeline(dir, 'tiny', 'name: tiny\nsettings: {shards: 1}\nnodes:\n  numbers: {uses: rows, with: {count: 3}}\n');
  const cmd = await runCli(['stauts', file]);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /Did you mean status\?/);
  const node = await runCli(['run', file, '--only', 'numbrs', '--dry-run']);
  assert.equal(node.code, 2, 'a node name that does not exist is a usage error');
  assert.match(node.stderr, /--only numbrs: no such node .*did you mean "numbers"/);
  const noOut = await runCli(['sql', file, 'SELECT 1', '--format', 'parquet']);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /--format parquet writes a file: give --out/);
  const missing = await runCli(['sql', file, '-f', path.join(dir, 'missing.sql')]);
  assert.match(missing.stderr, /-f .*missing\.sql: no such file/);
  const verify = await runCli(['verify', path.join(dir, 'nonexistent')]);
  assert.equal(verify.code, 1);
  assert.match(verify.stderr, /not a release \(no release\.json; the folder does not exist\)/);
  for (const r of [missing, verify]) assert.doesNotMatch(r.stderr, /unexpected error|\n\s+at /);
});

test('`miro sql ... | head -1` and `run --dry-run | head -1` end quietly with exit 0', async () => {
  const dir = tmpDir();
  const env = { ...process.env, MIRO_DATA_ROOT: path.join(dir, 'data') };
  const file = await writePipeline(
    dir,
    'pipe',
    'name: pipe\nsettings: {shards: 1}\nnodes:\n  a: {uses: rows, with: {count: 3}}\n  b: {uses: derive, needs: [a], with: {columns: {v: {sql: "value + 1"}}}}\n',
  );
  assert.equal((await runCli(['run', file], { env })).code, 0);
  for (const args of [
    ['sql', file, 'SELECT * FROM range(2000000)', '--format', 'csv'],
    ['sql', file, 'SELECT * FROM range(200000)'],
    ['run', file, '--dry-run'],
  ]) {
    const out = execFileSync('bash', ['-c', `node "${BIN}" "$@" | head -1; echo "exit=\${PIPESTATUS[0]}" >&2`, 'bash', ...args], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(out.split('\n').filter(Boolean).length, 1, args.join(' '));
    const err = spawnSync(
      'bash',
      [
        '-c',
        `node "${BIN}" "$@" 2>&1 >/dev/null | head -c 0; node "${BIN}" "$@" | head -1 >/dev/null; echo "exit=\${PIPESTATUS[0]}"`,
        'bash',
        ...args,
      ],
      { env, encoding: 'utf8' },
    );
    assert.match(err.stdout, /exit=0/, `${args.join(' ')}: ${err.stdout}${err.stderr}`);
    assert.doesNotMatch(err.stderr, /EPIPE|\n\s+at /, args.join(' '));
  }
});

test('miro sql exports are exact: doubles, BIGINT, HUGEINT, lists and structs round-trip; headers on empty results', async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const file = await writePipeline(dir, 'x', 'name: x\nsettings: {shards: 1}\nnodes:\n  a: {uses: rows, with: {count: 2}}\n');
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const q = `SELECT 1009.1510487::DOUBLE AS d, 0.1::DOUBLE + 0.2::DOUBLE AS e, 1e-300 AS tiny, 12345678901234567::BIGINT AS b, 170141183460469231731687303715884105727::HUGEINT AS h, [0.1, 1/3]::DOUBLE[] AS l, {'a': 1, 'b': 0.30000000000000004} AS s, 'x,"y' AS t FROM a ORDER BY id LIMIT 1`;
  const csv = await runCli(['sql', file, q, '--format', 'csv'], { env });
  assert.equal(csv.code, 0, csv.stderr);
  assert.equal(
    csv.stdout,
    'd,e,tiny,b,h,l,s,t\n1009.1510487,0.30000000000000004,1e-300,12345678901234567,170141183460469231731687303715884105727,"[0.1,0.3333333333333333]","{""a"":1,""b"":0.30000000000000004}","x,""y"\n',
  );
  const json = await runCli(['sql', file, q, '--format', 'json'], { env });
  assert.match(json.stdout, /"b":12345678901234567,"h":170141183460469231731687303715884105727/);
  const parsed = JSON.parse(json.stdout)[0];
  assert.deepEqual(
    [parsed.d, parsed.e, parsed.tiny, parsed.l, parsed.s, parsed.t],
    [1009.1510487, 0.1 + 0.2, 1e-300, [0.1, 1 / 3], { a: 1, b: 0.30000000000000004 }, 'x,"y'],
  );
  // Parquet, read back by DuckDB, equals the query's values exactly (types included).
  const out = path.join(dir, 'export.parquet');
  assert.equal((await runCli(['sql', file, q, '--format', 'parquet', '--out', out], { env })).code, 0);
  const diff = await sql(
    `SELECT count(*) AS n FROM (SELECT 1009.1510487::DOUBLE AS d, 0.1::DOUBLE + 0.2::DOUBLE AS e, 1e-300 AS tiny, 12345678901234567::BIGINT AS b, 170141183460469231731687303715884105727::HUGEINT AS h, [0.1, 1/3]::DOUBLE[] AS l, {'a': 1, 'b': 0.30000000000000004} AS s, 'x,"y' AS t EXCEPT SELECT * FROM read_parquet('${out}'))`,
  );
  assert.equal(Number(diff[0]!.n), 0);
  // No row still gives the header (CSV) and an empty array (JSON).
  const empty = `SELECT * FROM (${q}) WHERE false`;
  assert.equal((await runCli(['sql', file, empty, '--format', 'csv'], { env })).stdout, 'd,e,tiny,b,h,l,s,t\n');
  assert.deepEqual(JSON.parse((await runCli(['sql', file, empty, '--format', 'json'], { env })).stdout), []);
  // The table, for people, shows 64-bit integers exactly too.
  assert.match((await runCli(['sql', file, 'SELECT 12345678901234567::BIGINT AS b'], { env })).stdout, /12345678901234567\b/);
});

test('--set overrides reach the run, its fingerprints and status; without them the node is stale', async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const file = await writePipeline(dir, 'ov', 'name: ov\nsettings: {shards: 2}\nnodes:\n  numbers: {uses: rows, with: {count: 3}}\n');
  const set = ['--set', 'nodes.numbers.with.count=5'];
  assert.equal((await runCli(['run', file, ...set], { env })).code, 0);
  assert.equal(
    (await runCli(['sql', file, 'SELECT count(*) AS n FROM numbers', '--format', 'csv', ...set], { env })).stdout.trim(),
    'n\n5',
  );
  assert.match((await runCli(['status', file, ...set], { env })).stdout, /numbers .*up to date/);
  assert.match((await runCli(['run', file, '--dry-run'], { env })).stdout, /numbers .*run 2\/2 shard\(s\)/);
});

test('a second pipeline file with the same name is refused (its data would be replaced) unless --force-name', async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const yaml = (n: number) => `name: same\nsettings: {shards: 1}\nnodes:\n  numbers: {uses: rows, with: {count: ${n}}}\n`;
  const a = await writePipeline(dir, 'a', yaml(400));
  const b = path.join(dir, 'b.yaml');
  await fs.writeFile(b, yaml(10));
  assert.equal((await runCli(['run', a], { env })).code, 0);
  const refused = await runCli(['run', b], { env });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /pipeline name "same" is used by .*a\.yaml .*--force-name/);
  assert.equal((await runCli(['sql', a, 'SELECT count(*) AS n FROM numbers', '--format', 'csv'], { env })).stdout.trim(), 'n\n400');
  assert.equal((await runCli(['run', b, '--force-name'], { env })).code, 0);
  assert.equal((await runCli(['sql', b, 'SELECT count(*) AS n FROM numbers', '--format', 'csv'], { env })).stdout.trim(), 'n\n10');
});

test("DuckDB spills inside the pipeline's data (its temp_directory), so a big query spills instead of failing", async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const file = await writePipeline(dir, 'spill', 'name: spill\nsettings: {shards: 1}\nnodes:\n  numbers: {uses: rows, with: {count: 3}}\n');
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const r = await runCli(['sql', file, "SELECT current_setting('temp_directory') AS t", '--format', 'csv'], { env });
  assert.equal(r.stdout.trim(), `t\n${path.join(dir, 'data', 'spill', '_spill')}`);
});

test('miro sql writes bytes (an image) as base64 in CSV and JSON, and as bytes in Parquet', async () => {
  const dir = tmpDir();
  const env = { MIRO_DATA_ROOT: path.join(dir, 'data') };
  const file = await writePipeline(dir, 'blob', 'name: blob\nsettings: {shards: 1}\nnodes:\n  numbers: {uses: rows, with: {count: 1}}\n');
  assert.equal((await runCli(['run', file], { env })).code, 0);
  const q = "SELECT '\\x89PNG\\x00\\xFF'::BLOB AS image";
  const csv = await runCli(['sql', file, q, '--format', 'csv'], { env });
  assert.equal(csv.stdout.trim(), `image\n${Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0xff]).toString('base64')}`);
  const json = JSON.parse((await runCli(['sql', file, q, '--format', 'json'], { env })).stdout) as { image: string }[];
  assert.deepEqual([...Buffer.from(json[0]!.image, 'base64')], [0x89, 0x50, 0x4e, 0x47, 0, 0xff]);
  const out = path.join(dir, 'x.parquet');
  assert.equal((await runCli(['sql', file, q, '--format', 'parquet', '--out', out], { env })).code, 0);
  const back = await sql(`SELECT hex(image) AS h FROM read_parquet('${out}')`);
  assert.equal(back[0]!.h, '89504E4700FF');
});
