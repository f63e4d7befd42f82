import { verifyRelease } from '../release/verify.js';
import { MiroError } from '../errors.js';

export default async function verify(argv: string[]): Promise<number> {
  const dir = argv[0];
  if (!dir) throw new MiroError('usage: miro verify releases/NAME');
  const { manifest, problems } = await verifyRelease(dir);
  if (problems.length) {
    console.error(`${dir}: ${problems.length} difference(s):`);
    for (const p of problems) console.error(`  - ${p}`);
    return 1;
  }
  console.log(`${dir}: ok (${manifest!.files.length} files, ${manifest!.counts.rows} rows, hashes, schema, ids and targets checked)`);
  return 0;
}
