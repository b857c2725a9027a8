/**
 * A rootless container's network: pasta (Debian's `passt`), as rootless
 * podman uses it. An unprivileged user cannot make a veth or a bridge on
 * the host; pasta joins the container's network namespace, gives it a tap
 * device with the host's addresses and routes (`--config-net`), and carries
 * its traffic through ordinary sockets of the user's own. `-p 8080:80` is
 * pasta's `-t 8080:80`: pasta listens on the host's port 8080 and connects
 * to port 80 inside.
 *
 * pasta must end with the container, whatever ends it (stop, rm, a crash,
 * a kill of INIT). It runs in the foreground as the child of a small
 * watcher shell in a session of its own, which waits for INIT to end
 * (`tail --pid`) and then stops pasta; the shell's own child cannot be a
 * reused pid. stop and rm end the whole session at once. The container's
 * record keeps the watcher's pid and start time, so a reused pid is never
 * signalled.
 *
 * A host port below net.ipv4.ip_unprivileged_port_start needs privilege
 * the user does not have: refused before anything is made.
 *
 * The book: docs/07-networking.md; design: docs/design/rootless.md.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { existsSync, openSync, closeSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import { processStartTime } from '../runtime/process.ts';
import { readIfThere } from '../sys/read.ts';
import { sleepSync } from '../sys/sleep.ts';
import type { PortMapping } from './ipam.ts';
import { formatPublish } from './ports.ts';

const PORT_START_FILE = '/proc/sys/net/ipv4/ip_unprivileged_port_start';
const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];
/** How long pasta may take to set up the namespace and bind its ports. */
const READY_MS = 5000;
/** How long pasta may take to end once told to. */
const STOP_MS = 2000;

/** The watcher of a container's pasta: stopPasta ends it and pasta with it. */
export interface PastaRecord { pid: number; start: string }

/** Where pasta is installed, or the error that says how to get it. */
export function findPasta(): string {
  const found = TOOL_DIRS.map((d) => join(d, 'pasta')).find((p) => {
    try { return statSync(p).isFile(); } catch { return false; }
  });
  if (!found) throw new RuntsError('ENOTSUP', 'the network of an unprivileged user\'s container is pasta\'s (Debian package passt), and pasta is not installed: install it, or use --network none or host');
  return found;
}

/** The lowest port an unprivileged process may bind (net.ipv4.ip_unprivileged_port_start). */
export function unprivilegedPortStart(text?: string): number {
  try {
    return Number((text ?? readFileSync(PORT_START_FILE, 'utf8')).trim());
  } catch {
    return 1024; // the kernel's default, from before the sysctl existed
  }
}

/** Refuses a published host port the user may not bind, naming the sysctl that decides. */
export function checkUnprivilegedPorts(ports: PortMapping[], start: number): void {
  const low = ports.find((p) => p.hostPort < start);
  if (!low) return;
  throw new RuntsError('EPERM', `-p ${formatPublish(low)}: host port ${low.hostPort} is below ${start}, the lowest port an unprivileged user may bind (net.ipv4.ip_unprivileged_port_start = ${start}): publish a port >= ${start}, or, as root, lower it with \`sysctl net.ipv4.ip_unprivileged_port_start=${low.hostPort}\``);
}

/**
 * Refuses a published port something on the host already holds: pasta
 * would only warn and run without it. Checked before anything is made (a
 * port taken in between is pasta's warning again).
 */
export async function checkPortsFree(ports: PortMapping[]): Promise<void> {
  for (const p of ports) {
    const err = await tryBind(p);
    if (err) throw new RuntsError('EINVAL', `-p ${formatPublish(p)}: host port ${p.hostPort} (${p.proto}) ${err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound: ${err.message}`}`);
  }
}

function tryBind(p: PortMapping): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    if (p.proto === 'udp') {
      const sock = createSocket('udp4');
      sock.once('error', (err) => { sock.close(); resolve(err); });
      sock.bind({ address: p.hostIp, port: p.hostPort, exclusive: true }, () => sock.close(() => resolve(undefined)));
      return;
    }
    const server = createServer();
    server.once('error', (err) => resolve(err));
    server.listen({ host: p.hostIp, port: p.hostPort, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * pasta's command line, publishing `ports` and nothing else. INIT's user and
 * network namespaces are given as descriptors 3 and 4 (see startPasta).
 */
export function pastaArgs(ports: PortMapping[], pidFile: string): string[] {
  const spec = (proto: string) => {
    const list = ports.filter((p) => p.proto === proto).map((p) => `${p.hostIp === '0.0.0.0' ? '' : `${p.hostIp}/`}${p.hostPort}:${p.containerPort}`);
    return list.length ? list : ['none'];
  };
  return [
    '--foreground', '--quiet', '--config-net', '--pid', pidFile,
    // only what -p asks, both ways: no port of the host appears inside, and the gateway is not the host's loopback
    ...spec('tcp').flatMap((s) => ['-t', s]), ...spec('udp').flatMap((s) => ['-u', s]),
    '-T', 'none', '-U', 'none', '--no-map-gw',
    '--userns', '/proc/self/fd/3', '--netns', '/proc/self/fd/4', '--no-netns-quit',
  ];
}

/**
 * Starts pasta for INIT `pid` under its watcher, and returns once pasta has
 * set up the namespace and bound the ports (its pid file exists), or fails
 * with what pasta said. `dir` is the container's directory.
 */
export async function startPasta(dir: string, pid: number, ports: PortMapping[]): Promise<PastaRecord> {
  const pasta = findPasta();
  const pidFile = join(dir, 'pasta.pid');
  const log = join(dir, 'pasta.log');
  // "$0" is pasta, "$1" INIT's pid, the rest pasta's arguments.
  const watcher = '"$0" "$@" & p=$!; tail --pid="$1" -s 0.2 -f /dev/null; kill $p 2>/dev/null';
  // INIT is no longer dumpable here: its /proc/<pid>/ns links are root's on
  // the host, and pasta, which drops to an unprivileged user before it opens
  // them, could not. runts (root of the user namespace INIT's memory belongs
  // to) can, and hands them down open.
  const fds = [openSync(log, 'w', 0o600), openSync(`/proc/${pid}/ns/user`, 'r'), openSync(`/proc/${pid}/ns/net`, 'r')];
  let child;
  try {
    child = spawn('/bin/sh', ['-c', watcher.replace('"$1"', String(pid)), pasta, ...pastaArgs(ports, pidFile)], { detached: true, stdio: ['ignore', fds[0], fds[0], fds[1], fds[2]] });
  } finally {
    fds.forEach((fd) => closeSync(fd));
  }
  let exited = false;
  child.on('exit', () => { exited = true; });
  child.unref();
  const record: PastaRecord = { pid: child.pid!, start: processStartTime(child.pid!) ?? '' };
  const deadline = Date.now() + READY_MS;
  while (!existsSync(pidFile)) {
    if (exited || Date.now() > deadline) {
      stopPasta(record);
      const said = readFileSync(log, 'utf8').trim().split('\n').filter((l) => !/syslog/.test(l)).slice(-3).join('; ');
      throw new RuntsError('ENETWORK', `pasta ${exited ? 'failed' : `was not ready after ${READY_MS / 1000} s`} for -p ${ports.map(formatPublish).join(', ') || '(none)'}: ${said || 'it said nothing'}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return record;
}

/**
 * Ends a container's pasta and its watcher (safe when they are gone, or the
 * pid was reused), and returns once they have: `rm` and `run --rm` leave no
 * pasta behind, not even one on its way out. One that ignores SIGTERM for
 * STOP_MS gets SIGKILL.
 */
export function stopPasta(record: PastaRecord): void {
  if (!record.start || processStartTime(record.pid) !== record.start) return;
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    try {
      process.kill(-record.pid, signal); // the session: watcher, tail and pasta
    } catch {
      return; // gone meanwhile
    }
    for (const deadline = Date.now() + STOP_MS; Date.now() < deadline; sleepSync(10)) if (!groupAlive(record.pid)) return;
  }
}

/** Whether a process of group `pgrp` still runs (a zombie has ended: it waits only to be reaped). */
function groupAlive(pgrp: number): boolean {
  return readdirSync('/proc').some((name) => {
    const stat = /^\d+$/.test(name) ? readIfThere(`/proc/${name}/stat`) : undefined;
    if (!stat) return false;
    const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return state !== 'Z' && Number(group) === pgrp;
  });
}
