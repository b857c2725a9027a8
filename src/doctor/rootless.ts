/**
 * runts doctor, rootless part: what an unprivileged user needs to run
 * containers, for the calling user or one named with --user.
 *
 *   - subordinate ids in /etc/subuid and /etc/subgid (a range for the
 *     container's ids beyond the user's own, through newuidmap/newgidmap);
 *   - newuidmap and newgidmap, setuid root or with file capabilities;
 *   - cgroup v2 with a subtree delegated to the user (limits need it);
 *   - pasta or slirp4netns (a network of the container's own; runts does not
 *     use them yet: rootless containers share the host's network).
 * Whether unprivileged user namespaces are allowed at all is the "user
 * namespaces" check of checks.ts.
 *
 * Design: docs/design/rootless.md. The book: docs/02-preparing-environment.md.
 */
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import { subIdRanges } from '../rootless/idmap.ts';
import type { Check, Host } from './checks.ts';

/** The user the checks are about: by name (--user) or the caller. */
export interface RootlessUser {
  name: string | undefined;
  uid: number;
}

/** A passwd entry by name or uid, from the host's /etc/passwd. */
export function lookupUser(h: Host, who: string | number): RootlessUser | undefined {
  const f = (h.read('/etc/passwd') ?? '').split('\n').map((l) => l.split(':')).find((e) => (typeof who === 'number' ? e[2] === String(who) : e[0] === who));
  return f ? { name: f[0], uid: Number(f[2]) } : undefined;
}

export function checkRootless(h: Host, named?: string): Check[] {
  const user = named !== undefined ? lookupUser(h, named) : (lookupUser(h, h.uid()) ?? { name: undefined, uid: h.uid() });
  if (!user) throw new RuntsError('EINVAL', `--user ${named}: no such user in /etc/passwd`);
  if (user.uid === 0) return [{ name: 'rootless', status: 'ok', detail: 'checked for root: name the user who will run runts rootless with --user NAME' }];
  return [...subIdChecks(h, user), ...['newuidmap', 'newgidmap'].map((t) => checkIdTool(h, t)), checkDelegation(h, user), checkNetworkTool(h)];
}

function subIdChecks(h: Host, user: RootlessUser): Check[] {
  const who = user.name ?? String(user.uid);
  return (['uid', 'gid'] as const).map((kind) => {
    const file = `/etc/sub${kind}`;
    const ranges = subIdRanges(h.read(file), { name: user.name, id: user.uid });
    const name = `sub${kind}s`;
    if (ranges.length) return { name, status: 'ok', detail: `${who}: ${ranges.map((r) => `${r.start}-${r.start + r.count - 1}`).join(', ')} (${file})` };
    return {
      name,
      status: 'warn',
      detail: `${who} has no range in ${file}: its containers can map its own ${kind} alone`,
      fix: `usermod --add-sub${kind}s 100000-165535 ${who} (a range no other user has)`,
    };
  });
}

export function checkIdTool(h: Host, tool: string): Check {
  const path = h.which(tool);
  if (!path) return { name: tool, status: 'warn', detail: `not found: a container mapping more than the user's own id needs it`, fix: 'apt-get install uidmap' };
  const st = h.stat(path);
  const caps = h.fileCaps(path);
  if (st && st.uid === 0 && st.mode & 0o4000) return { name: tool, status: 'ok', detail: `${path}, setuid root` };
  if (caps) return { name: tool, status: 'ok', detail: `${path}, file capabilities ${caps}` };
  return { name: tool, status: 'warn', detail: `${path} is neither setuid root nor has file capabilities: it cannot write another process's id map`, fix: `chmod u+s ${path} (or: setcap cap_set${tool === 'newuidmap' ? 'uid' : 'gid'}+ep ${path}); apt-get install --reinstall uidmap restores it` };
}

/** cgroup v2, and a subtree the user owns: where runts would put its containers' cgroups. */
export function checkDelegation(h: Host, user: RootlessUser): Check {
  const name = 'cgroup delegation';
  const mounts = (h.read('/proc/self/mountinfo') ?? '').split('\n').map((l) => l.split(' ')).map((f) => ({ point: f[4] ?? '', fs: f[f.indexOf('-', 6) + 1] ?? '' }));
  const v2 = mounts.find((m) => m.fs === 'cgroup2');
  const fix = 'boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2); systemd delegates user@UID.service to each logged-in user';
  if (!v2 || mounts.some((m) => m.fs === 'cgroup')) {
    return { name, status: 'warn', detail: 'cgroup v1 controllers: no delegation to an unprivileged user, so rootless containers get no cgroup and limits (linux.resources) are refused', fix };
  }
  // The caller's own cgroup's parent (where runts puts the container's), or systemd's unit for a named user.
  const own = /^0::(.*)$/m.exec(h.read('/proc/self/cgroup') ?? '')?.[1];
  const dir = h.uid() === user.uid && own ? join(v2.point, own, '..') : join(v2.point, `user.slice/user-${user.uid}.slice/user@${user.uid}.service`);
  const st = h.stat(dir);
  const procs = h.stat(join(dir, 'cgroup.procs'));
  if (st?.uid === user.uid && procs?.uid === user.uid) {
    const ctrls = (h.read(join(dir, 'cgroup.controllers')) ?? '').trim();
    return { name, status: 'ok', detail: `${dir} is delegated to uid ${user.uid}; controllers: ${ctrls || 'none'}` };
  }
  return {
    name,
    status: 'warn',
    detail: `${dir} ${st ? `belongs to uid ${st.uid}` : 'does not exist'}: not delegated to uid ${user.uid}, so rootless containers get no cgroup and limits are refused`,
    fix: 'log in through systemd (user@UID.service has Delegate=yes) or run under systemd-run --user --scope -p Delegate=yes; by hand: chown the directory and its cgroup.procs, cgroup.subtree_control, cgroup.threads',
  };
}

export function checkNetworkTool(h: Host): Check {
  const found = ['pasta', 'slirp4netns'].map((t) => h.which(t)).filter(Boolean);
  if (found.length) return { name: 'rootless network', status: 'ok', detail: `${found.join(', ')} (runts does not use them yet: rootless containers share the host's network)` };
  return { name: 'rootless network', status: 'warn', detail: 'neither pasta nor slirp4netns: a rootless container cannot have a network of its own through them (runts does not use them yet)', fix: 'apt-get install passt (or slirp4netns)' };
}
