/**
 * The two tools the networking chapter teaches, driven in batches: one
 * `ip -batch -` and one `nft -f -` per step, so a container costs a handful of
 * processes rather than one per command. Inside a container's network
 * namespace, `ip` runs under `nsenter --net=/proc/<pid>/ns/net`.
 *
 * The book: docs/07-networking.md.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { RuntsError } from '../errors.ts';

function runTool(argv: string[], input: string, what: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new RuntsError(missing ? 'ENOTSUP' : 'ENETWORK', `${what}: ${missing ? `${argv[0]} is not installed (Debian: apt-get install ${argv[0] === 'nft' ? 'nftables' : 'iproute2'})` : r.error.message}`, { cause: r.error });
  }
  if (r.status !== 0) throw new RuntsError('ENETWORK', `${what}: ${(r.stderr || r.stdout).trim().replace(/\s*\n\s*/g, '; ')}`);
  return r.stdout;
}

/** `ip -batch -`, on the host or (with `pid`) in that process's network namespace. */
export function ipBatch(lines: string[], what: string, pid?: number): void {
  if (!lines.length) return;
  const argv = pid === undefined ? ['ip', '-batch', '-'] : ['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', '-batch', '-'];
  runTool(argv, lines.join('\n') + '\n', what);
}

/** One `nft -f -` transaction: all of the script applies, or none of it. */
export function nft(script: string, what: string): string {
  return runTool(['nft', '-f', '-'], script, what);
}

/** `nft <args>` without failing: the exit status and output. */
export function nftQuery(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('nft', args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: r.stdout ?? '' };
}

/** Deletes a link that may vanish by itself meanwhile (a veth goes when its peer's namespace dies). */
export function deleteLink(name: string): void {
  if (!linkExists(name)) return;
  const r = spawnSync('ip', ['link', 'del', name], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0 && linkExists(name)) throw new RuntsError('ENETWORK', `delete ${name}: ${(r.stderr ?? '').trim()}`);
}

/**
 * What `ip` says of a link: its kind (bridge, veth, ...) and the bridge it is
 * a port of; undefined if there is no such link. Asked of `ip`, not read from
 * /sys/class/net: sysfs shows the namespace that mounted it, which need not
 * be the one runts runs in.
 */
export function linkInfo(name: string): { kind?: string; master?: string } | undefined {
  const r = spawnSync('ip', ['-d', '-j', 'link', 'show', 'dev', name], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return undefined;
  const [link] = JSON.parse(r.stdout) as { master?: string; linkinfo?: { info_kind?: string } }[];
  return { kind: link?.linkinfo?.info_kind, master: link?.master };
}

export const linkExists = (name: string): boolean => linkInfo(name) !== undefined;

/** A per-interface sysctl (net.ipv4.conf.<dev>.<key>): scoped to our bridge, never global. */
export function setInterfaceSysctl(dev: string, key: string, value: string): void {
  const path = `/proc/sys/net/ipv4/conf/${dev}/${key}`;
  try {
    writeFileSync(path, value);
  } catch (err) {
    throw new RuntsError('ENETWORK', `write ${path}: ${(err as Error).message}`, { path, cause: err });
  }
}
