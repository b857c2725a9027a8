/**
 * The architectures a seccomp filter can tell apart, as the kernel sees
 * them: struct seccomp_data carries an AUDIT_ARCH_* value, and x32 shares
 * x86_64's, marked instead by bit 30 of the syscall number.
 *
 * The book: docs/08-security.md, "runts's seccomp compiler" (the x32 bit).
 */
import type { SeccompArch } from '../../oci/types.ts';
import { AARCH64_SYSCALLS } from './syscalls-aarch64.ts';
import { X32_SYSCALLS } from './syscalls-x32.ts';
import { X86_SYSCALLS } from './syscalls-x86.ts';
import { X86_64_SYSCALLS } from './syscalls-x86-64.ts';

/** <linux/audit.h>: EM_* machine number | 64-bit | little-endian flags. */
export const AUDIT_ARCH = {
  X86_64: 0xc000003e,
  I386: 0x40000003,
  AARCH64: 0xc00000b7,
} as const;

/** x32 syscall numbers carry this bit (__X32_SYSCALL_BIT). */
export const X32_SYSCALL_BIT = 0x40000000;

export interface Arch {
  name: SeccompArch;
  audit: number;
  /** 32-bit ABIs: only the low word of an argument is compared, as libseccomp does. */
  bits: 32 | 64;
  syscalls: Readonly<Record<string, number>>;
  /** The range of syscall numbers this ABI owns under its audit arch. */
  nrRange: [number, number];
  /** -1 as a syscall number (a call a tracer skipped) belongs to this ABI, as libseccomp decides. */
  ownsMinusOne?: boolean;
}

const FULL: [number, number] = [0, 0xffffffff];

export const ARCHES: Partial<Record<SeccompArch, Arch>> = {
  SCMP_ARCH_X86_64: { name: 'SCMP_ARCH_X86_64', audit: AUDIT_ARCH.X86_64, bits: 64, syscalls: X86_64_SYSCALLS, nrRange: [0, X32_SYSCALL_BIT - 1], ownsMinusOne: true },
  SCMP_ARCH_X32: { name: 'SCMP_ARCH_X32', audit: AUDIT_ARCH.X86_64, bits: 32, syscalls: X32_SYSCALLS, nrRange: [X32_SYSCALL_BIT, 0xfffffffe] },
  SCMP_ARCH_X86: { name: 'SCMP_ARCH_X86', audit: AUDIT_ARCH.I386, bits: 32, syscalls: X86_SYSCALLS, nrRange: FULL },
  SCMP_ARCH_AARCH64: { name: 'SCMP_ARCH_AARCH64', audit: AUDIT_ARCH.AARCH64, bits: 64, syscalls: AARCH64_SYSCALLS, nrRange: FULL },
};

/** The ABI runts itself runs as: libseccomp (and so runc) always filters it. */
export function nativeArch(machine: string = process.arch): SeccompArch {
  switch (machine) {
    case 'x64': return 'SCMP_ARCH_X86_64';
    case 'arm64': return 'SCMP_ARCH_AARCH64';
    default: throw new Error(`seccomp: no syscall table for ${machine}`);
  }
}

/**
 * Syscalls of ABIs runts has no table for (arm, powerpc, s390, alpha...)
 * that common profiles name: not typos, so no warning when they are skipped.
 */
const OTHER_ABIS = new Set([
  'arm_fadvise64_64', 'arm_sync_file_range', 'breakpoint', 'cacheflush', 'set_tls', 'usr26', 'usr32',
  'pciconfig_iobase', 'pciconfig_read', 'pciconfig_write', 'swapcontext', 'sync_file_range2', 'recv', 'send',
  'syscall', 'timerfd', 's390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr', 's390_guarded_storage',
  's390_sthyi', 'spu_create', 'spu_run', 'subpage_prot', 'sys_debug_setcontext', 'riscv_flush_icache',
]);

/** Is name a syscall of any ABI? (To tell a typo from a syscall another ABI lacks.) */
export function knownAnywhere(name: string): boolean {
  return OTHER_ABIS.has(name) || Object.values(ARCHES).some((a) => a.syscalls[name] !== undefined);
}
