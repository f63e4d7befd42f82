import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePipeline } from '../src/dag/pipeline.ts';
import { ConfigError } from '../src/errors.ts';

const FILE = 'pipelines/bad.yaml';

function configError(yaml: string): ConfigError {
  try {
    parsePipeline(yaml, FILE, { dataRoot: '/tmp/unused' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err;
  }
  assert.fail('pipeline was accepted');
}

test('unknown stage kind names the file, line and key', () => {
  const e = configError('nodes:\n  a:\n    uses: rows\n    with: {count: 3}\n  b:\n    uses: nope\n');
  assert.equal(e.line, 6);
  assert.equal(e.keyPath, 'nodes.b.uses');
  assert.match(e.message, /^pipelines\/bad\.yaml:6: nodes\.b\.uses: unknown stage kind "nope" \(known: .*rows/);
});

test('unknown parameter names the key and lists the known ones', () => {
  const e = configError('nodes:\n  a:\n    uses: rows\n    with:\n      count: 3\n      cuont: 4\n');
  assert.equal(e.line, 6);
  assert.equal(e.keyPath, 'nodes.a.with.cuont');
  assert.match(e.message, /unknown parameter "cuont" \(known: count, shards\)/);
});

test('mistyped parameter names the key and the value', () => {
  const e = configError('nodes:\n  a:\n    uses: rows\n    with:\n      count: "many"\n');
  assert.equal(e.line, 5);
  assert.equal(e.keyPath, 'nodes.a.with.count');
  assert.match(e.message, /expected int, got "many"/);
});

test('missing required parameter points at the with block', () => {
  const e = configError('nodes:\n  a:\n    uses: rows\n    with: {}\n');
  assert.equal(e.keyPath, 'nodes.a.with.count');
  assert.equal(e.line, 4);
});

test('unknown need names the list item', () => {
  const e = configError(
    'nodes:\n  a:\n    uses: rows\n    with: {count: 3}\n  b:\n    uses: derive\n    needs: [a, ghost]\n    with: {columns: {}}\n',
  );
  assert.equal(e.keyPath, 'nodes.b.needs[1]');
  assert.equal(e.line, 7);
  assert.match(e.message, /unknown node "ghost"/);
});

test('duplicate node is reported with its line', () => {
  const e = configError('nodes:\n  a:\n    uses: rows\n    with: {count: 3}\n  a:\n    uses: rows\n    with: {count: 4}\n');
  assert.equal(e.line, 5);
  assert.match(e.message, /invalid YAML: Map keys must be unique/);
});

test('a cycle names every node in it', () => {
  const yaml = [
    'nodes:',
    '  src:',
    '    uses: rows',
    '    with: {count: 3}',
    '  a:',
    '    uses: derive',
    '    needs: [c]',
    '    with: {columns: {}}',
    '  b:',
    '    uses: derive',
    '    needs: [a]',
    '    with: {columns: {}}',
    '  c:',
    '    uses: derive',
    '    needs: [b]',
    '    with: {columns: {}}',
  ].join('\n');
  const e = configError(yaml);
  assert.match(e.message, /dependency cycle: a -> c -> b -> a/);
  assert.equal(e.keyPath, 'nodes.a.needs');
  assert.equal(e.line, 7);
});

test('invalid YAML gives the line of the syntax error', () => {
  const e = configError('nodes:\n  a:\n    uses: rows\n    with: {count: 3\n');
  assert.match(e.message, /invalid YAML/);
  assert.ok(e.line !== undefined && e.line >= 4);
});

test('unknown top-level and node keys are errors', () => {
  assert.match(configError('nodez: {}\n').message, /nodez: unknown top-level key/);
  assert.match(configError('nodes:\n  a:\n    uses: rows\n    need: [x]\n').message, /:4: nodes\.a\.need: unknown node key/);
});

test('a valid pipeline resolves defaults and shard counts', () => {
  const p = parsePipeline(
    'settings: {shards: 5}\nnodes:\n  a:\n    uses: rows\n    with: {count: 3}\n  b:\n    uses: derive\n    needs: [a]\n    with: {columns: {v: {sql: "value*2"}}}\n',
    FILE,
    { dataRoot: '/tmp/x' },
  );
  assert.deepEqual(p.order, ['a', 'b']);
  assert.equal(p.nodes.get('b')!.shards, 5);
  assert.deepEqual(p.nodes.get('b')!.params, { columns: { v: { sql: 'value*2', type: 'DOUBLE' } } });
  assert.deepEqual(
    p.nodes.get('a')!.columns.map((c) => c.name),
    ['id', 'value'],
  );
});

test('the paper configuration pipelines/miro.yaml validates and plans with --dry-run', async () => {
  const { runCli } = await import('./helpers.ts');
  const res = await runCli(['run', 'pipelines/miro.yaml', '--dry-run'], { env: { MIRO_DATA_ROOT: '/tmp/miro-dry-run-unused' } });
  assert.equal(res.code, 0, res.stderr);
  for (const node of [
    'ingest',
    'caption',
    'short_caption',
    'score_aesthetic',
    'score_hpsv2',
    'score_imagereward',
    'score_pickscore',
    'score_sciscore',
    'score_vqascore',
    'score_jinaclip',
    'bins',
    'train',
  ]) {
    assert.match(res.stdout, new RegExp(`^${node}\\s`, 'm'), node);
  }
  assert.match(res.stdout, /bins\s+bins\s+run 4096\/4096 shard\(s\)/);
});

test('a sample setting whose name would be a path is refused where the pipeline loads', () => {
  const yaml = (name: string) =>
    `nodes:\n  t:\n    uses: rows\n    with: {count: 3}\n  s:\n    uses: sample\n    needs: [t]\n    with:\n      model: t\n      prompts_file: configs/geneval-mini.jsonl\n      settings: [{name: ${JSON.stringify(name)}, preset: none}]\n`;
  for (const bad of ['../../../../OUTSIDE_escaped', 'a/b', '.hidden', ''])
    assert.match(configError(yaml(bad)).message, /nodes\.s\.with: settings: ".*" is not a setting name/);
  assert.match(configError(yaml('x').replace('preset: none}]', 'preset: none}, {name: x, preset: none}]')).message, /"x" is named twice/);
});

test('a reward name that is not an identifier is refused where the pipeline loads', () => {
  const e = configError(
    "nodes:\n  a: {uses: rows, with: {count: 3}}\n  b:\n    uses: bins\n    needs: [a]\n    with: {rewards: {'x\"y': a.value}}\n",
  );
  assert.match(e.message, /rewards: "x"y" is not a reward name/);
});

test('--set overrides a key before validation: numbers as YAML, list items by index, bad paths named', () => {
  const yaml = 'nodes:\n  a: {uses: rows, with: {count: 3}}\n  b: {uses: derive, needs: [a], with: {columns: {v: {sql: "value"}}}}\n';
  const p = parsePipeline(yaml, FILE, {
    dataRoot: '/tmp/unused',
    set: ['nodes.a.with.count=7', 'settings.seed=5', 'nodes.b.with.columns.v.type=FLOAT'],
  });
  assert.deepEqual(p.nodes.get('a')!.params, { count: 7, shards: 0 });
  assert.equal(p.settings.seed, 5);
  assert.deepEqual(p.overrides, ['nodes.a.with.count=7', 'settings.seed=5', 'nodes.b.with.columns.v.type=FLOAT']);
  assert.throws(() => parsePipeline(yaml, FILE, { dataRoot: '/tmp/unused', set: ['nodes.a.with.cuont=4'] }), /unknown parameter "cuont"/);
  assert.throws(
    () => parsePipeline(yaml, FILE, { dataRoot: '/tmp/unused', set: ['nodes.a.uses.x=1'] }),
    /nodes\.a\.uses: --set nodes\.a\.uses\.x=1: not a mapping/,
  );
  assert.throws(() => parsePipeline(yaml, FILE, { dataRoot: '/tmp/unused', set: ['novalue'] }), /--set novalue: expected key\.path=value/);
});

test('an unknown built-in scorer or model preset names the file, line and key, with a suggestion', () => {
  const scorer = configError(
    'nodes:\n  a: {uses: rows, with: {count: 3}}\n  s:\n    uses: score\n    needs: [a]\n    with: {scorer: colorfulness, image: a.value}\n',
  );
  assert.match(
    scorer.message,
    /^pipelines\/bad\.yaml:\d+: nodes\.s\.with: unknown scorer "colorfulness" \(did you mean "colourfulness"\?\)/,
  );
  const preset = configError(
    'nodes:\n  a: {uses: rows, with: {count: 3}}\n  t:\n    uses: train\n    needs: [a]\n    with: {preset: tinyy, image: a.value, caption_real: a.value, steps: 2}\n',
  );
  assert.match(preset.message, /unknown preset "tinyy" \(did you mean "tiny"\?\)/);
});

test('settings.rows_per_shard cuts a source that knows its count into enough shards; a shards parameter wins', () => {
  const p = parsePipeline(
    'settings: {shards: 4, rows_per_shard: 100}\nnodes:\n  a: {uses: rows, with: {count: 1000}}\n  b: {uses: synth, with: {count: 250}}\n  c: {uses: rows, with: {count: 1000, shards: 3}}\n  d: {uses: derive, needs: [a], with: {columns: {v: {sql: "value"}}}}\n',
    FILE,
    { dataRoot: '/tmp/unused' },
  );
  assert.deepEqual(
    ['a', 'b', 'c', 'd'].map((n) => p.nodes.get(n)!.shards),
    [10, 3, 3, 10],
  );
  assert.match(
    configError('settings: {rows_per_shard: 0}\nnodes:\n  a: {uses: rows, with: {count: 3}}\n').message,
    /settings\.rows_per_shard: expected a positive integer/,
  );
});
