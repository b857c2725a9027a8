/**
 * Output for the CLI: written with writeSync on the raw descriptors, never
 * through process.stdout, because Node makes a pipe it touches non-blocking,
 * and runts shares its stdout with the container it starts.
 */
import { writeSync } from 'node:fs';

export const print = (text: string): void => {
  writeSync(1, text.endsWith('\n') ? text : text + '\n');
};

export const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n');
}

