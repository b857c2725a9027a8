/**
 * Capability names -> the bit masks the executor applies.
 *
 * Root's power is split into ~41 capabilities held in five sets: bounding (the
 * ceiling for exec), permitted, effective, inheritable and ambient (kept across
 * exec by a non-root user). A name this kernel does not know is skipped with a
 * warning, as runc does; a name nobody knows was refused by validation.
 *
 * The book: docs/08-security.md, "Capabilities" (the five sets, and what a
 * container holds).
 */
import { readFileSync } from 'node:fs';
import type { LinuxCapabilities } from '../oci/types.ts';
import { CAPABILITY_NAMES } from '../oci/kernel-numbers.ts';

export interface CapabilityMasks {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

const SETS = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;

/**
 * The capabilities runts can hand out: what the kernel knows (cap_last_cap)
 * and what runts's own bounding set still holds. A container can never get
 * more than the runtime that starts it. Read by the host probe
 * (plan/host.ts), once.
 */
export function grantableCapabilities(): bigint {
  const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return bnd ? BigInt('0x' + bnd[1]) : (1n << BigInt(Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8')) + 1)) - 1n;
}

/** The five sets; a capability outside `grantable` (grantableCapabilities) is skipped with a warning. */
export function capabilityMasks(caps: LinuxCapabilities | undefined, grantable: bigint, warn: (msg: string) => void): CapabilityMasks {
  const masks: CapabilityMasks = { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
  const skipped = new Set<string>();
  for (const set of SETS) {
    for (const name of caps?.[set] ?? []) {
      const bit = 1n << BigInt((CAPABILITY_NAMES as Record<string, number>)[name]!);
      if (!(grantable & bit)) {
        skipped.add(name);
        continue;
      }
      masks[set] |= bit;
    }
  }
  // The kernel raises an ambient capability only if it is also permitted and
  // inheritable; like runc, ask for no more than that instead of failing.
  masks.ambient &= masks.permitted & masks.inheritable;
  for (const name of skipped) warn(`capability ${name} is unknown to this kernel or outside runts's own bounding set; skipped`);
  return masks;
}

export function capabilityNames(mask: bigint): string[] {
  return Object.entries(CAPABILITY_NAMES as Record<string, number>)
    .filter(([, bit]) => mask & (1n << BigInt(bit)))
    .map(([name]) => name.replace(/^CAP_/, '').toLowerCase());
}
