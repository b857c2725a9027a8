/**
 * `runts ps`: the processes of a container, found through its cgroup (every
 * process the container starts stays in it, forks and execs included), or
 * its pid namespace when it has no cgroup (runtime/members.ts).
 *
 * `-f json` is the list of host pids, what containerd's shim asks for; the
 * table is the host's ps(1) output cut down to the container's processes,
 * as runc prints it.
 *
 * Design: docs/design/exec-and-terminals.md ("Which process").
 */
import { spawnSync } from 'node:child_process';
import { RuntsError } from '../errors.ts';
import type { RuntimeContext } from './create.ts';
import { containerMembers } from './members.ts';

export function containerPids(ctx: RuntimeContext, id: string): number[] {
  const record = ctx.store.read(id);
  if (ctx.store.status(record) === 'stopped') return [];
  return containerMembers(record);
}

/** ps(1) with psArgs (default -ef), keeping the header and the container's lines. */
export function psTable(pids: number[], psArgs: string[]): string {
  const args = psArgs.length ? psArgs : ['-ef'];
  const r = spawnSync('ps', args, { encoding: 'utf8' });
  if (r.error) throw new RuntsError('ENOENT', `run ps: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0) throw new RuntsError('ESYSTEM', `ps ${args.join(' ')}: ${r.stderr.trim() || `exit status ${r.status}`}`);
  const [header = '', ...lines] = r.stdout.split('\n');
  const column = header.trim().split(/\s+/).indexOf('PID');
  if (column < 0) throw new RuntsError('EINVAL', `ps ${args.join(' ')}: its output has no PID column`);
  const wanted = new Set(pids);
  return [header, ...lines.filter((l) => wanted.has(Number(l.trim().split(/\s+/)[column])))].join('\n');
}
