// SQL files with named sections: `-- <tag>: <name>` starts a section that runs to the next one
// (sql/binning.sql uses `query`, sql/checks/*.sql use `check`).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's `sql/` folder: the SQL the pipeline itself runs (binning, checks, reports). */
export const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sql');

/** The file's `-- <tag>: name` sections in order, each without its trailing semicolon. */
export function sqlSections(file: string, tag: string): { name: string; sql: string }[] {
  const text = readFileSync(file, 'utf8');
  return text
    .split(new RegExp(`^-- ${tag}: `, 'm'))
    .slice(1)
    .map((part) => {
      const nl = part.indexOf('\n');
      return {
        name: part.slice(0, nl).trim(),
        sql: part
          .slice(nl + 1)
          .trim()
          .replace(/;\s*$/, ''),
      };
    });
}
