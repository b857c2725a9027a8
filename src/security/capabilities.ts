/**
 * Capability names -> the bit masks the executor applies.
 *
 * Root's power is split into ~41 capabilities held in five sets: bounding (the
 * ceiling for exec), permitted, effective, inheritable and ambient (kept across
 * exec by a non-root user). A name this kernel does not know is skipped with a
 * warning, as runc does; a name nobody knows was refused by validation.
 *
 * The book: docs/08-security.md, "Capabilities".
 */
import { readFileSync } from 'node:fs';
import type { LinuxCapabilities } from '../oci/types.ts';
import { CAPABILITY_NAMES } from '../oci/validate.ts';

export interface CapabilityMasks {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

const SETS = ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const;

let lastCap: number | undefined;
export function capLastCap(): number {
  lastCap ??= Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  return lastCap;
}

export function capabilityMasks(caps: LinuxCapabilities | undefined, warn: (msg: string) => void): CapabilityMasks {
  const masks: CapabilityMasks = { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n };
  const unknownToKernel = new Set<string>();
  for (const set of SETS) {
    for (const name of caps?.[set] ?? []) {
      const bit = (CAPABILITY_NAMES as Record<string, number>)[name]!;
      if (bit > capLastCap()) {
        unknownToKernel.add(name);
        continue;
      }
      masks[set] |= 1n << BigInt(bit);
    }
  }
  for (const name of unknownToKernel) warn(`capability ${name} is not supported by this kernel; skipped`);
  return masks;
}

export function capabilityNames(mask: bigint): string[] {
  return Object.entries(CAPABILITY_NAMES as Record<string, number>)
    .filter(([, bit]) => mask & (1n << BigInt(bit)))
    .map(([name]) => name.replace(/^CAP_/, '').toLowerCase());
}
