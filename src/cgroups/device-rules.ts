/**
 * The device cgroup rule list of a container: linux.resources.devices in
 * order, then the devices every container may use (runc's list, which the
 * runtime spec's default devices need). The last matching rule decides.
 *
 * v1 writes these rules to devices.allow/deny; v2 compiles them into a BPF
 * program (device-bpf.ts).
 *
 * The book: docs/05-cgroups.md, "Devices".
 */
import type { LinuxDeviceCgroup } from '../oci/types.ts';
import { invalidResource } from './writes.ts';

export interface DeviceRule {
  allow: boolean;
  type: 'a' | 'c' | 'b';
  /** -1: any */
  major: number;
  minor: number;
  access: string;
}

const any = -1;
export const DEFAULT_ALLOWED: DeviceRule[] = [
  // mknod of any node; opening it is still decided by the rules
  { allow: true, type: 'c', major: any, minor: any, access: 'm' },
  { allow: true, type: 'b', major: any, minor: any, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
  { allow: true, type: 'c', major: 136, minor: any, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
];

function number(field: string, v: number | undefined): number {
  if (v === undefined || v === -1) return any;
  if (!Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) invalidResource(field, `must be a device number or -1 (any), not ${v}`);
  return v;
}

export function deviceRules(devices: LinuxDeviceCgroup[] | undefined, field = 'linux.resources.devices'): DeviceRule[] {
  const rules = (devices ?? []).flatMap((d, i): DeviceRule[] => {
    const f = `${field}[${i}]`;
    const type = d.type ?? 'a';
    if (!['a', 'c', 'b'].includes(type)) invalidResource(`${f}.type`, `unknown device type ${JSON.stringify(type)} (a, c or b)`);
    const given = d.access ?? 'rwm';
    const access = [...new Set(given)].filter((ch) => 'rwm'.includes(ch)).join('');
    // a deny rule cannot take away an access that does not exist: runc
    // ignores such letters there ("rwa"); an allow rule must mean what it says
    if (d.allow ? !/^[rwm]+$/.test(given) : !/^[a-z]+$/.test(given)) {
      invalidResource(`${f}.access`, `must be made of r, w and m, not ${JSON.stringify(given)}`);
    }
    if (!access) return [];
    return [{ allow: d.allow, type: type as DeviceRule['type'], major: number(`${f}.major`, d.major), minor: number(`${f}.minor`, d.minor), access }];
  });
  return [...rules, ...DEFAULT_ALLOWED];
}

/** "c 1:3 rwm", as devices.allow/deny take it. */
export function v1RuleText(r: DeviceRule): string {
  if (r.type === 'a') return `a *:* ${r.access}`;
  const n = (x: number) => (x === any ? '*' : String(x));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}
