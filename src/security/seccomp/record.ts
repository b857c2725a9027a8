/**
 * Recording a seccomp profile: `runts run --seccomp-record FILE ...` runs the
 * workload once under a filter that stops nothing and notes every system
 * call it makes, then writes a profile that allows exactly those.
 *
 * The mechanism is seccomp user notification: the filter answers every call
 * SECCOMP_RET_USER_NOTIF, and the executor's PARENT, which supervises the
 * foreground container anyway, lets each call run
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE) and notes its (architecture, number)
 * (native/steps_record.c). Unlike SCMP_ACT_LOG and the kernel log, nothing
 * is rate-limited or mixed with other containers' calls, and no root-only
 * log is read. The recorder's filter is loaded where the container's own
 * would be (compile.ts), so what it sees is what a profile loaded there
 * must allow: runts's last steps before execve included, its setup before
 * that point not.
 *
 * The profile's blind spots are the run's: a path the workload did not take
 * that run (an error branch, a signal, a feature), and arguments (a call is
 * allowed with any). Recording replaces the container's own seccomp profile
 * for that run, so the workload sees no filter.
 *
 * The book: docs/08-security.md (seccomp), docs/11-advanced-topics.md (profiles from a recording). The design: docs/design/security.md.
 */
import { readFileSync } from 'node:fs';
import { RuntsError } from '../../errors.ts';
import type { LinuxSeccomp, SeccompArch } from '../../oci/types.ts';
import { ARCHES, X32_SYSCALL_BIT } from './arch.ts';
import { BPF, encodeFilter } from './bpf.ts';
import { SECCOMP_RET } from './compile.ts';

/** <linux/seccomp.h>: the filter's load returns a listener for its notifications. */
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;

/** The recorder's filter: every call of every architecture goes to the supervisor. */
export function recorderFilter(): Uint8Array {
  return encodeFilter([{ code: BPF.RET_K, jt: 0, jf: 0, k: SECCOMP_RET.USER_NOTIF }]);
}

/**
 * The profile a recording makes: the recorded calls allowed, every other
 * call EPERM, on the architectures the calls came from (named by number
 * where runts has no table for an ABI: such calls are left out, with a
 * warning).
 */
export function profileFromRecording(file: string, warn: (msg: string) => void): LinuxSeccomp {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RuntsError('ENOENT', `--seccomp-record: nothing was recorded (${file}: ${(err as NodeJS.ErrnoException).code ?? err}): the container's process did not start`, { cause: err });
  }
  const names = new Map<SeccompArch, Set<string>>();
  for (const line of text.split('\n').filter(Boolean)) {
    const [archHex, nrText] = line.split(' ');
    const audit = parseInt(archHex!, 16);
    const nr = Number(nrText);
    const arch = Object.values(ARCHES).find((a) => a.audit === audit && nr >= a.nrRange[0] && nr <= a.nrRange[1]);
    const name = arch && Object.entries(arch.syscalls).find(([, n]) => n === nr)?.[0];
    if (!arch || !name) {
      warn(`--seccomp-record: system call ${nr & ~X32_SYSCALL_BIT} of architecture 0x${archHex} has no name runts knows: left out of the profile`);
      continue;
    }
    names.set(arch.name, (names.get(arch.name) ?? new Set()).add(name));
  }
  const all = [...new Set([...names.values()].flatMap((s) => [...s]))].sort();
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: [...names.keys()],
    syscalls: all.length ? [{ names: all, action: 'SCMP_ACT_ALLOW' }] : [],
  };
}
