/**
 * Linux Security Modules: the AppArmor profile or SELinux label the
 * container's process is born into.
 *
 * Both work the same way from here: the process writes to its own
 * /proc/self/attr/.../exec file, and the kernel applies the label at the
 * next execve. The executor opens that file before pivot_root, through the
 * host's /proc (a /proc inside the container could be anything), checks it
 * is procfs, and writes it before no_new_privs and the user switch, because
 * AppArmor refuses most profile changes after them.
 *
 * Asking for a label the host cannot apply is an error at create, before
 * anything exists: a container that silently runs unconfined is worse than
 * one that does not start.
 *
 * The book: docs/08-security.md, "AppArmor and SELinux", and "Why the order of
 * the steps matters".
 */
import { existsSync, readFileSync } from 'node:fs';
import { RuntsError } from '../errors.ts';
import type { Linux, Process } from '../oci/types.ts';
import type { Step, Value } from '../protocol/steps.ts';

export interface HostLsms {
  apparmor: boolean;
  selinux: boolean;
}

/** Read by the host probe (plan/host.ts) and `runts features`. */
export function hostLsms(): HostLsms {
  let apparmor = false;
  try {
    apparmor = readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    /* no AppArmor module */
  }
  return { apparmor, selinux: existsSync('/sys/fs/selinux/enforce') };
}

/** Newer kernels give each LSM its own attr directory; the shared file is the fallback. */
const APPARMOR_ATTR = ['/proc/self/attr/apparmor/exec', '/proc/self/attr/exec'];
const SELINUX_ATTR = ['/proc/self/attr/exec'];

export interface LsmLabel {
  lsm: 'AppArmor' | 'SELinux';
  paths: string[];
  value: string;
}

/** What to write, or undefined; throws when the host cannot apply what is asked. */
export function lsmLabel(process: Process, linux: Linux | undefined, host: HostLsms): LsmLabel | undefined {
  const profile = process.apparmorProfile || undefined;
  const label = process.selinuxLabel || undefined;
  if (profile && !host.apparmor) {
    throw new RuntsError('ENOTSUP', `process.apparmorProfile: "${profile}" asked for, but AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled is not Y)`, { path: 'process.apparmorProfile' });
  }
  if (label && !host.selinux) {
    throw new RuntsError('ENOTSUP', `process.selinuxLabel: "${label}" asked for, but SELinux is not enabled on this host (no /sys/fs/selinux)`, { path: 'process.selinuxLabel' });
  }
  // A mount label means nothing without SELinux (runc ignores it there too);
  // with SELinux, leaving mounts unlabelled would weaken the policy: refuse.
  if (linux?.mountLabel && host.selinux) {
    throw new RuntsError('ENOTSUP', `linux.mountLabel: "${linux.mountLabel}" asked for, but runts does not label mounts yet`, { path: 'linux.mountLabel' });
  }
  if (profile && label) {
    throw new RuntsError('ENOTSUP', 'process.selinuxLabel: runts applies one LSM label, and process.apparmorProfile is set too', { path: 'process.selinuxLabel' });
  }
  if (profile) return { lsm: 'AppArmor', paths: APPARMOR_ATTR, value: `exec ${profile}` };
  if (label) return { lsm: 'SELinux', paths: SELINUX_ATTR, value: label };
  return undefined;
}

const int = (v: number): Value => ({ kind: 'int', value: BigInt(v) });

/** The two steps: open (before pivot_root) and write (before no_new_privs and the user switch). */
export function lsmSteps(label: LsmLabel, slot: number): { open: Step; write: Step } {
  return {
    open: {
      op: 'STEP_LSM_OPEN_ATTR', actor: 'init', values: [int(slot), { kind: 'strs', value: label.paths }],
      text: `open INIT's own ${label.paths.join(' (or ')}${label.paths.length > 1 ? ')' : ''} through the host's /proc, and check it is procfs (slot ${slot})`,
    },
    write: {
      op: 'STEP_LSM_WRITE_ATTR', actor: 'init', values: [int(slot), { kind: 'str', value: label.value }],
      text: `${label.lsm}: write "${label.value}" to it, for the next execve`,
    },
  };
}
