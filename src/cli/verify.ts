// `miro verify releases/NAME`: re-hashes every file of a release and checks rows, schema, ids and targets.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { MiroError } from '../errors.js';
import { setExitCode } from './exit.js';

export default function register(program: Command): void {
  program
    .command('verify')
    .description('re-hash every file of a release, check its rows, schema, ids and targets (exit 1 on any difference)')
    .argument('<release>', 'a release folder (holds release.json)')
    .action(async (dir: string) => {
      const { verifyRelease } = await import('../release/verify.js');
      if (!existsSync(path.join(dir, 'release.json')))
        throw new MiroError(`${dir}: not a release (no release.json${existsSync(dir) ? '' : '; the folder does not exist'})`);
      const { manifest, problems } = await verifyRelease(dir);
      if (problems.length) {
        console.error(`${dir}: ${problems.length} difference(s):`);
        for (const p of problems) console.error(`  - ${p}`);
        setExitCode(1);
        return;
      }
      console.log(`${dir}: ok (${manifest!.files.length} files, ${manifest!.counts.rows} rows, hashes, schema, ids and targets checked)`);
    });
}
