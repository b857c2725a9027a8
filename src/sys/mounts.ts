/**
 * This process's mount table, as /proc/self/mountinfo lists it: field 5 is
 * the mount point, with the kernel's octal escapes of space, tab, newline
 * and backslash (`\040`) to undo.
 *
 * The book: docs/04-namespaces.md (the mount namespace).
 */
import { readFileSync } from 'node:fs';

export function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below `dir`, outermost first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(unescapeMountPath)
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => a.length - b.length);
}

export const isMounted = (path: string): boolean => mountsUnder(path)[0] === path;
