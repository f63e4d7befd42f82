// `miro <command>`: dispatches to one file per command. Errors print their message (which
// names the file, line, key, node or shard) and exit non-zero; no stack traces for user errors.

import { MiroError } from '../errors.js';

const commands: Record<string, { summary: string; load: () => Promise<{ default: (argv: string[]) => Promise<number> }> }> = {
  run: {
    summary: 'run PIPELINE [--only N] [--from N] [--force N] [--retry-failed N] [--dry-run] [--rank i --world n] [--jobs k]',
    load: () => import('./run.js'),
  },
  status: {
    summary: 'status PIPELINE            shards committed, rows ok/failed, stale or not and why',
    load: () => import('./status.js'),
  },
  report: { summary: 'report PIPELINE [--out DIR]   tables and charts of the SQL reports', load: () => import('./report.js') },
  models: {
    summary: 'models fetch CONFIG...       download reward-model files by repo and revision, verify sha256',
    load: () => import('./models.js'),
  },
  release: {
    summary: 'release PIPELINE --out releases/NAME [--where SQL] [--images embed|path] [--include-failed]',
    load: () => import('./release.js'),
  },
  verify: { summary: 'verify releases/NAME        re-hash files, check rows, schema, ids and targets', load: () => import('./verify.js') },
  sample: {
    summary: 'sample MODEL_DIR --prompt "..." [--preset P] [--target r=v,...] [--guidance w] [--n N] [--best-of R] [--out F]',
    load: () => import('./sample.js'),
  },
  sql: { summary: 'sql PIPELINE "QUERY" | -f FILE [--format table|csv|json]', load: () => import('./sql.js') },
};

export function usage(): string {
  return `usage: miro <command> ...\n\n${Object.values(commands)
    .map((c) => `  miro ${c.summary}`)
    .join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`miro: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load()).default(rest);
  } catch (err) {
    if (err instanceof MiroError) {
      process.stderr.write(`miro ${name}: ${err.name}: ${err.message}\n`);
      return 1;
    }
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`miro ${name}: ${err.message}\n${usage()}`);
      return 2;
    }
    // A bug, not a user error: say so with the stack, and exit non-zero.
    process.stderr.write(`miro ${name}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
