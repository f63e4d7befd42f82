// How fast a command starts: `miro --version`, `miro status` on the demo and a no-op re-run, each
// through bin/miro.js as a user types them (the compiled build in dist/, rebuilt first from this tree), next to the same from source (tsx) and to Node's own start, all in this run.

import { spawnSync } from 'node:child_process';
import { BIN, ROOT } from '../test/helpers.ts';
import { benchDir, report } from './util.ts';

const RUNS = 5;

/** The median wall time of a command, in seconds, over RUNS runs (after one warm-up). */
function median(args: string[], env: Record<string, string> = {}): number {
  const once = () => {
    const t0 = performance.now();
    const r = spawnSync(args[0]!, args.slice(1), { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
    return (performance.now() - t0) / 1000;
  };
  once();
  const t = Array.from({ length: RUNS }, once).sort((a, b) => a - b);
  return t[Math.floor(RUNS / 2)]!;
}

// The build users get from `npm ci`, made from this tree.
const build = spawnSync('npm', ['run', 'prepare'], { cwd: ROOT, encoding: 'utf8' });
if (build.status !== 0) throw new Error(`npm run prepare: ${build.stderr}`);
const node = process.execPath;
report('cli.node_start_s', median([node, '-e', '0']), 's');
const version = median([node, BIN, '--version']);
report('cli_version_s', version, 's');
const versionSource = median([node, BIN, '--version'], { MIRO_FROM_SOURCE: '1' });
report('cli.version_from_source_s', versionSource, 's');
report('cli.version_compiled_speedup', versionSource / version, 'x');

// The demo with its source node committed (the 5,000 scenes): status plans all 21 nodes from their
// fingerprints and reads the markers; a re-run of the committed node is a no-op.
const data = benchDir('cli');
const env = { MIRO_DATA_ROOT: data };
const synth = spawnSync(node, [BIN, 'run', 'pipelines/demo.yaml', '--only', 'synth'], {
  cwd: ROOT,
  encoding: 'utf8',
  env: { ...process.env, ...env },
});
if (synth.status !== 0) throw new Error(synth.stderr);
report('cli_status_demo_s', median([node, BIN, 'status', 'pipelines/demo.yaml'], env), 's');
report('cli.noop_rerun_demo_synth_s', median([node, BIN, 'run', 'pipelines/demo.yaml', '--only', 'synth'], env), 's');
