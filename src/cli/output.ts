/**
 * Output for the CLI: written with writeSync on the raw descriptors, never
 * through process.stdout, because Node makes a pipe it touches non-blocking,
 * and runts shares its stdout with the container it starts.
 *
 * The book: docs/09-writing-runtime.md, "The command line";
 * docs/design/runtime-core.md.
 */
import { writeSync } from 'node:fs';
import { RuntsError } from '../errors.ts';

export const print = (text: string): void => {
  writeSync(1, text.endsWith('\n') ? text : text + '\n');
};

export const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n');
}

/**
 * `--format` as Docker and podman take it: `table`, `json`, or a Go template
 * of the common kind: `{{.State.Status}}`, `{{json .Config}}`, text around
 * them, `\n` and `\t`. A missing field prints `<no value>`, as Go's does;
 * anything more (range, if, functions) is refused rather than misprinted.
 */
export function formatTemplate(template: string, value: unknown): string {
  const out = template.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_, json: string | undefined, path: string) => {
    let v = value;
    for (const key of path.split('.').filter(Boolean)) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
    if (json) return JSON.stringify(v ?? null);
    if (v === undefined || v === null) return '<no value>';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
  if (out.includes('{{')) throw new RuntsError('EINVAL', `--format ${template}: only {{.Field.Path}} and {{json .Field}} are understood`);
  return out.replace(/\\n/g, '\n').replace(/\\t/g, '\t');
}

/** Prints `rows` as --format asks: a table (header first), JSON, or a template per row. */
export function printFormatted<T>(format: string, rows: T[], asTable: (rows: T[]) => string[][]): void {
  if (format === 'json') return print(JSON.stringify(rows));
  if (format === 'table') return print(table(asTable(rows)));
  for (const r of rows) print(formatTemplate(format, r));
}
