// Prints query results as an aligned table or Markdown (exports are DuckDB's: store/export.ts).

/** A cell as the DuckDB client returns it: string, number, boolean, bigint, bytes, a list or NULL. */
type Value = unknown;

function cell(v: Value): string {
  if (v === null) return 'NULL';
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (Array.isArray(v)) return `[${v.map((x: number) => (Number.isInteger(x) ? x : x.toPrecision(4))).join(', ')}]`;
  if (typeof v === 'number' && !Number.isInteger(v)) return Number(v.toPrecision(6)).toString();
  return String(v);
}

export function formatTable(rows: Record<string, Value>[], columns?: string[]): string {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  const cells = rows.map((r) => cols.map((c) => cell(r[c] ?? null)));
  const width = cols.map((c, i) => cells.reduce((w, r) => Math.max(w, r[i]!.length), c.length));
  const line = (xs: string[]) =>
    xs
      .map((x, i) => x.padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols), line(width.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function formatMarkdown(rows: Record<string, Value>[], columns?: string[]): string {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  return [
    `| ${cols.join(' | ')} |`,
    `| ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${cols.map((c) => cell(r[c] ?? null)).join(' | ')} |`),
  ].join('\n');
}
