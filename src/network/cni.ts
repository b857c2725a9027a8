/**
 * `--network cni:<name>`: the Container Network Interface, the plugin protocol
 * Kubernetes runtimes and podman use, as the alternative to the built-in
 * bridge driver. A network is a configuration list (a `.conflist`, or a
 * legacy single `.conf`) in RUNTS_CNI_CONFIG_DIR (default /etc/cni/net.d);
 * its plugins are executables found in RUNTS_CNI_PATH (default
 * /usr/lib/cni:/opt/cni/bin).
 *
 * Per the CNI spec 1.0: each plugin runs with CNI_COMMAND, CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME and CNI_PATH in its environment and its own
 * configuration on stdin, with the list's `name` and `cniVersion`, the
 * `runtimeConfig` of the capabilities it declares (here `portMappings`,
 * from `-p`) and a `prevResult`. ADD runs the list in order, each plugin
 * getting the previous one's result; the last result is the attachment's,
 * cached by the caller. CHECK runs in order and DEL in reverse, both given
 * the cached result. An ADD that fails halfway is undone by a DEL of the
 * whole list, as the spec asks (plugins tolerate a DEL of what they never
 * made). A plugin reports failure on stdout as {code, msg, details}.
 *
 * The book: docs/07-networking.md.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntsError } from '../errors.ts';
import { mount, MNT_DETACH, umount } from '../sys/libc.ts';
import { MS } from '../rootfs/mount-options.ts';
import type { PortMapping } from './ipam.ts';

const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

export interface PluginConf { type: string; capabilities?: Record<string, boolean>; ipam?: { type?: string }; [key: string]: unknown }

/** A configuration list as loaded, kept with the container so DEL runs what ADD ran. */
export interface CniNetwork {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  plugins: PluginConf[];
  /** the file it came from */
  file: string;
  /** where the plugins are searched (CNI_PATH) */
  path: string[];
}

export interface CniDns { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] }

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: CniDns;
}

/** One attachment: the container id, its network namespace ('' for a DEL once it is gone), its -p ports. */
export interface CniAttachment { id: string; netns: string; ports: PortMapping[] }

export type CniCommand = 'ADD' | 'CHECK' | 'DEL';

export const cniConfigDir = () => process.env.RUNTS_CNI_CONFIG_DIR ?? '/etc/cni/net.d';
const cniPath = () => (process.env.RUNTS_CNI_PATH ?? '/usr/lib/cni:/opt/cni/bin').split(':').filter(Boolean);

/** The spec's rule for network names and plugin types: no '/', so a type never leaves CNI_PATH. */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The list named `name` in `dir` (the first by file name, as libcni picks),
 * checked: version, plugin types, and every executable (plugins and IPAM)
 * present in `path`.
 */
export function loadNetwork(name: string, dir = cniConfigDir(), path = cniPath()): CniNetwork {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort();
  } catch (err) {
    throw new RuntsError('ENOTFOUND', `no CNI network ${name}: cannot read ${dir}: ${(err as Error).message}`, { path: dir, cause: err });
  }
  const found: string[] = [];
  const unreadable: string[] = [];
  for (const f of files) {
    const file = join(dir, f);
    let conf: Record<string, unknown>;
    try {
      conf = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) throw new Error('not a JSON object');
    } catch (err) {
      unreadable.push(`${file}: ${(err as Error).message}`);
      continue;
    }
    if (conf.name !== name) {
      if (typeof conf.name === 'string') found.push(conf.name);
      continue;
    }
    return validateList(f.endsWith('.conflist') ? conf : { cniVersion: conf.cniVersion, name, plugins: [conf] }, file, path);
  }
  const known = found.length ? `the networks there: ${[...new Set(found)].sort().join(', ')}` : 'none is there';
  const broken = unreadable.length ? `; not valid JSON: ${unreadable.join('; ')}` : '';
  throw new RuntsError('ENOTFOUND', `no CNI network ${name} in ${dir} (${known})${broken}`, { path: dir });
}

function validateList(conf: Record<string, unknown>, file: string, path: string[]): CniNetwork {
  const bad = (why: string) => new RuntsError('EINVAL', `CNI network ${String(conf.name)} (${file}): ${why}`, { path: file });
  const version = conf.cniVersion;
  if (typeof version !== 'string' || !SUPPORTED_VERSIONS.includes(version)) {
    throw bad(`cniVersion ${JSON.stringify(version)} is not supported (runts speaks ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  if (!NAME.test(String(conf.name))) throw bad('the name must be letters, digits, \'_\', \'.\', \'-\', starting with a letter or digit');
  if (!Array.isArray(conf.plugins) || !conf.plugins.length) throw bad('"plugins" must be a non-empty list');
  const plugins = conf.plugins as PluginConf[];
  plugins.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || typeof p.type !== 'string' || !NAME.test(p.type)) throw bad(`plugins[${i}] needs a "type" naming an executable (letters, digits, '_', '.', '-')`);
    for (const type of [p.type, ...(p.ipam?.type === undefined ? [] : [p.ipam.type])]) {
      if (typeof type !== 'string' || !NAME.test(type)) throw bad(`plugins[${i}].ipam needs a "type" naming an executable`);
      findPlugin(type, path, `CNI network ${String(conf.name)} (${file})`);
    }
  });
  const disableCheck = conf.disableCheck === true || conf.disableCheck === 'true';
  return { name: conf.name as string, cniVersion: version, disableCheck, plugins, file, path };
}

function findPlugin(type: string, path: string[], what: string): string {
  for (const dir of path) {
    const bin = join(dir, type);
    try {
      accessSync(bin, constants.X_OK);
      return bin;
    } catch { /* not here */ }
  }
  throw new RuntsError('ENOENT', `${what}: plugin ${type} not found in ${path.join(':')} (set RUNTS_CNI_PATH, or on Debian: apt-get install containernetworking-plugins)`);
}

/** What a plugin reads on stdin: its own configuration, with the list's name and version, runtimeConfig (replacing any in the file) and prevResult. */
export function pluginInput(net: CniNetwork, plugin: PluginConf, ports: PortMapping[], prevResult?: CniResult): Record<string, unknown> {
  const input: Record<string, unknown> = { ...plugin, name: net.name, cniVersion: net.cniVersion };
  if (plugin.capabilities?.portMappings) {
    input.runtimeConfig = {
      portMappings: ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.proto, ...(p.hostIp === '0.0.0.0' ? {} : { hostIP: p.hostIp }) })),
    };
  }
  if (prevResult) input.prevResult = prevResult;
  return input;
}

/** The spec's well-known error codes. */
const ERROR_CODES: Record<number, string> = {
  1: 'incompatible CNI version', 2: 'unsupported field in network configuration', 3: 'container unknown or does not exist',
  4: 'invalid necessary environment variables', 5: 'I/O failure', 6: 'failed to decode content', 7: 'invalid network configuration',
  11: 'try again later',
};

/** A failed plugin's report: the spec's {code, msg, details} on stdout, else whatever it said. */
export function pluginError(stdout: string, stderr: string, status: number | null, signal: string | null): string {
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.msg === 'string' || typeof e.code === 'number') {
      const code = typeof e.code === 'number' ? ` (CNI error ${e.code}${ERROR_CODES[e.code] ? `: ${ERROR_CODES[e.code]}` : ''})` : '';
      return `${[e.msg, e.details].filter((s) => typeof s === 'string' && s).join(': ') || 'no message'}${code}`;
    }
  } catch { /* not the spec's error */ }
  const said = (stderr.trim() || stdout.trim()).replace(/\s*\n\s*/g, '; ');
  const how = signal ? `killed by ${signal}` : `exit status ${status}`;
  return said ? `${said} (${how})` : how;
}

/** Runs one plugin; for ADD, returns its result. */
function execPlugin(net: CniNetwork, plugin: PluginConf, command: CniCommand, c: CniAttachment, prevResult?: CniResult): CniResult | undefined {
  const what = `CNI network ${net.name}: plugin ${plugin.type} ${command}`;
  const bin = findPlugin(plugin.type, net.path, `CNI network ${net.name} (${net.file})`);
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CNI_')));
  Object.assign(env, { CNI_COMMAND: command, CNI_CONTAINERID: c.id, CNI_NETNS: c.netns, CNI_IFNAME: 'eth0', CNI_PATH: net.path.join(':') });
  const r = spawnSync(bin, [], { input: JSON.stringify(pluginInput(net, plugin, c.ports, prevResult)), env, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new RuntsError('ENETWORK', `${what}: cannot run ${bin}: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0) throw new RuntsError('ENETWORK', `${what}: ${pluginError(r.stdout ?? '', r.stderr ?? '', r.status, r.signal)}`);
  if (command !== 'ADD') return undefined;
  try {
    return checkResult(JSON.parse(r.stdout));
  } catch (err) {
    throw new RuntsError('ENETWORK', `${what}: no valid result on stdout: ${(err as Error).message}`);
  }
}

/** A plugin's result, checked as far as runts reads it (addresses, interfaces, dns), so a malformed one is an error, not a crash. */
function checkResult(r: unknown): CniResult {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const listOf = (v: unknown, ok: (x: unknown) => boolean) => v === undefined || (Array.isArray(v) && v.every(ok));
  const isString = (x: unknown) => typeof x === 'string';
  if (!isObject(r)) throw new Error('not a JSON object');
  if (!listOf(r.ips, (ip) => isObject(ip) && isString(ip.address) && (ip.interface === undefined || Number.isInteger(ip.interface)))) throw new Error('"ips" is not a list of {address, interface?}');
  if (!listOf(r.interfaces, (i) => isObject(i) && isString(i.name))) throw new Error('"interfaces" is not a list of {name, ...}');
  const dns = r.dns;
  if (dns !== undefined && !(isObject(dns) && ['nameservers', 'search', 'options'].every((k) => listOf(dns[k], isString)) && (dns.domain === undefined || isString(dns.domain)))) {
    throw new Error('"dns" is not {nameservers, domain, search, options} of strings');
  }
  return r as unknown as CniResult;
}

/** ADD, in order; on failure every plugin is DELeted, last first, and the error says what failed. */
export function cniAdd(net: CniNetwork, c: CniAttachment): CniResult {
  let result: CniResult | undefined;
  try {
    for (const p of net.plugins) result = execPlugin(net, p, 'ADD', c, result);
  } catch (err) {
    try {
      cniDel(net, c, result);
    } catch (undo) {
      throw new RuntsError('ENETWORK', `${(err as Error).message}; undoing it failed too: ${(undo as Error).message}`, { cause: err });
    }
    throw err;
  }
  return result!;
}

/** DEL, last plugin first, each given the cached ADD result (when there is one). */
export function cniDel(net: CniNetwork, c: CniAttachment, result?: CniResult): void {
  for (const p of [...net.plugins].reverse()) execPlugin(net, p, 'DEL', c, result);
}

/** CHECK, in order, against the cached ADD result; false when the list sets disableCheck (the spec forbids calling it). */
export function cniCheck(net: CniNetwork, c: CniAttachment, result: CniResult): boolean {
  if (net.disableCheck) return false;
  if (net.cniVersion.startsWith('0.3.')) throw new RuntsError('ENOTSUP', `CNI network ${net.name}: CHECK needs cniVersion 0.4.0 or later, not ${net.cniVersion}`);
  for (const p of net.plugins) execPlugin(net, p, 'CHECK', c, result);
  return true;
}

/** The container's address (without the prefix): the first on an interface in its namespace, else the first. */
export function containerAddress(result: CniResult): string | undefined {
  const ips = result.ips ?? [];
  const inside = ips.find((ip) => ip.interface !== undefined && result.interfaces?.[ip.interface]?.sandbox);
  return (inside ?? ips[0])?.address.split('/')[0];
}

/** resolv.conf from the result's dns; undefined when it names no nameserver (the host's then apply). */
export function dnsResolvConf(dns: CniDns | undefined): string | undefined {
  if (!dns?.nameservers?.length) return undefined;
  const search = dns.search?.length ? dns.search : dns.domain ? [dns.domain] : [];
  return [
    ...dns.nameservers.map((s) => `nameserver ${s}`),
    ...(search.length ? [`search ${search.join(' ')}`] : []),
    ...(dns.options?.length ? [`options ${dns.options.join(' ')}`] : []),
  ].join('\n') + '\n';
}

/**
 * The container's network namespace, bind-mounted on `file`: DEL after the
 * container died still finds eth0 (the bridge plugin removes its masquerade
 * rules only through it), and nothing else can take the namespace's place.
 */
export function pinNetns(file: string, pid: number): void {
  writeFileSync(file, '', { mode: 0o600 });
  mount(`/proc/${pid}/ns/net`, file, 'nsfs', MS.BIND, '');
}

/** The pinned namespace for CNI_NETNS, or '' when it is not pinned (gone, or lost with a reboot): DEL then goes without. */
export function pinnedNetns(file: string): string {
  try {
    return statSync(file).dev !== statSync(dirname(file)).dev ? file : '';
  } catch {
    return '';
  }
}

export function unpinNetns(file: string): void {
  if (pinnedNetns(file)) umount(file, MNT_DETACH);
  rmSync(file, { force: true });
}
