/**
 * What `runts features` says about security: the seccomp actions,
 * operators, ABIs and flags the compiler handles, and which LSMs this host
 * can apply (runtime-spec features.md).
 *
 * The book: docs/08-security.md.
 */
import { hostLsms } from './lsm.ts';
import { ARCHES } from './seccomp/arch.ts';
import { SECCOMP_FILTER_FLAG } from './seccomp/compile.ts';

export function securityFeatures() {
  const lsms = hostLsms();
  const flags = Object.keys(SECCOMP_FILTER_FLAG);
  return {
    seccomp: {
      enabled: true,
      actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP'],
      operators: ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'],
      archs: Object.keys(ARCHES),
      knownFlags: flags,
      supportedFlags: flags,
    },
    apparmor: { enabled: lsms.apparmor },
    selinux: { enabled: lsms.selinux },
  };
}
