// `miro stream-rows PLAN --units 0,3`: one window of a training stream's rows, read by the
// project's DuckDB, as NDJSON (BLOBs as base64). The torch engine reads Parquet with pyarrow; on
// a machine without pyarrow (Debian packages none) but with Node.js, it reads through this command
// instead. Rows come unfiltered and unordered: held-out split and order stay the engine's (stream.py).

import type { Command } from 'commander';
import { UsageError } from '../errors.js';

export default function register(program: Command): void {
  program
    .command('stream-rows', { hidden: true })
    .description("one window of a training plan's rows as NDJSON (for the torch engine where pyarrow is missing)")
    .argument('<plan>', "a train node's _torch/plan.json")
    .requiredOption('--units <list>', 'comma-separated unit indices')
    .action(async (file: string, o: { units: string }) => {
      const { connect, queryBatches } = await import('../store/duck.js');
      const { windowSql } = await import('../train/stream.js');
      const { readPlan } = await import('../train/torch-engine.js');
      const plan = readPlan(file).data;
      const units = o.units.split(',').map(Number);
      if (units.some((u) => !Number.isInteger(u) || u < 0 || u >= plan.units.length))
        throw new UsageError(`--units ${o.units}: the plan has units 0..${plan.units.length - 1}`);
      const conn = await connect();
      for await (const batch of queryBatches(conn, windowSql(plan, units))) {
        const names = Object.keys(batch.columns);
        const lines: string[] = [];
        for (let i = 0; i < batch.rows; i++)
          lines.push(
            JSON.stringify(
              Object.fromEntries(
                names.map((n) => {
                  const v = batch.columns[n]![i];
                  return [n, v instanceof Uint8Array ? { b64: Buffer.from(v).toString('base64') } : v];
                }),
              ),
            ),
          );
        if (lines.length) process.stdout.write(lines.join('\n') + '\n');
      }
    });
}
