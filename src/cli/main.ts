// `miro <command>`: one file per command, each registering itself with commander (options,
// validation, --help). Errors print their message (which names the file, line, key, node or
// shard) and exit non-zero; no stack traces for user errors.
//
// Exit codes: 0 done; 1 an error, failed or damaged nodes, or a release that does not verify;
// 2 a usage error (unknown command or option, a bad option value).

import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { MiroError, UsageError } from '../errors.js';
import registerRun from './run.js';
import registerStatus from './status.js';
import registerSql from './sql.js';
import registerReport from './report.js';
import registerRelease from './release.js';
import registerVerify from './verify.js';
import registerSample from './sample.js';
import registerModels from './models.js';
import registerServe from './serve.js';
import registerStreamRows from './stream.js';
import { takeExitCode } from './exit.js';
import { ENVIRONMENT_HELP, readEnvironment } from './environment.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function program(): Command {
  const p = new Command('miro')
    .description('MIRO: multi-reward conditioned pretraining, as a resumable YAML DAG over Parquet')
    .version(version(), '-V, --version')
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `${ENVIRONMENT_HELP}\n\nExit codes: 0 done; 1 an error, failed or damaged nodes, a release that does not verify;\n2 a usage error (unknown command or option, bad option value).`,
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  for (const register of [
    registerRun,
    registerStatus,
    registerSql,
    registerServe,
    registerReport,
    registerRelease,
    registerVerify,
    registerSample,
    registerModels,
    registerStreamRows,
  ])
    register(p);
  for (const c of p.commands) c.exitOverride().showSuggestionAfterError(true);
  return p;
}

export async function main(argv: string[]): Promise<number> {
  // `miro sql ... | head` closes stdout early: stop quietly, as Unix tools do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  takeExitCode();
  readEnvironment();
  const p = program();
  if (argv.length === 0) {
    p.outputHelp({ error: true });
    return 2;
  }
  try {
    await p.parseAsync(argv, { from: 'user' });
    return takeExitCode();
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed.
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    const name = p.commands.find((c) => c.name() === argv[0])?.name() ?? 'miro';
    if (err instanceof MiroError) {
      process.stderr.write(`miro ${name}: ${err.name}: ${err.message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    // A bug, not a user error: say so with the stack, and exit non-zero.
    process.stderr.write(`miro ${name}: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
