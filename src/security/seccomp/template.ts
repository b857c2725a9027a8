/**
 * Seccomp templates: the profile format Docker and podman ship (a
 * `seccomp.json` whose rules apply only for some capabilities or CPU
 * architectures), and how a template becomes the plain OCI `linux.seccomp`
 * for one container: keep the rules whose `includes` hold and whose
 * `excludes` do not, for this container's capabilities and this host's
 * architecture, and list the host's ABIs (archMap).
 *
 * The book: docs/08-security.md, "The default profile".
 */
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, SeccompAction, SeccompArch } from '../../oci/types.ts';

export interface TemplateCondition {
  caps?: string[];
  /** Go's names: amd64, x32, x86, arm64, arm, ... */
  arches?: string[];
  minKernel?: string;
}

export interface TemplateRule {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[] | null;
  includes?: TemplateCondition;
  excludes?: TemplateCondition;
  comment?: string;
}

export interface SeccompTemplate {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  archMap: { architecture: SeccompArch; subArchitectures: SeccompArch[] }[];
  syscalls: TemplateRule[];
}

export interface TemplateTarget {
  /** the container's capabilities (any set: Docker looks at the bounding set) */
  caps: string[];
  /** Node's process.arch: x64 or arm64 */
  machine?: string;
  /** the kernel release, for minKernel (e.g. "6.1.0") */
  kernel?: string;
}

const GO_ARCH: Record<string, { go: string; seccomp: SeccompArch }> = {
  x64: { go: 'amd64', seccomp: 'SCMP_ARCH_X86_64' },
  arm64: { go: 'arm64', seccomp: 'SCMP_ARCH_AARCH64' },
};

export function resolveTemplate(t: SeccompTemplate, target: TemplateTarget): LinuxSeccomp {
  const machine = GO_ARCH[target.machine ?? process.arch];
  if (!machine) throw new Error(`seccomp: no template architecture for ${target.machine ?? process.arch}`);
  const caps = new Set(target.caps);
  const holds = (c: TemplateCondition | undefined, empty: boolean) => {
    if (!c || (!c.caps?.length && !c.arches?.length && !c.minKernel)) return empty;
    if (c.caps?.length && !c.caps.every((cap) => caps.has(cap))) return false;
    if (c.arches?.length && !c.arches.includes(machine.go)) return false;
    if (c.minKernel && target.kernel && compareKernel(target.kernel, c.minKernel) < 0) return false;
    return true;
  };
  const syscalls: LinuxSyscall[] = [];
  for (const r of t.syscalls) {
    if (!holds(r.includes, true)) continue;
    // an exclusion with any of its conditions met drops the rule (Docker: caps or arches)
    const ex = r.excludes;
    if (ex && (ex.caps?.some((c) => caps.has(c)) || ex.arches?.includes(machine.go))) continue;
    const rule: LinuxSyscall = { names: [...r.names], action: r.action };
    if (r.errnoRet !== undefined) rule.errnoRet = r.errnoRet;
    if (r.args?.length) rule.args = r.args.map((a) => ({ index: a.index, value: a.value, ...(a.valueTwo ? { valueTwo: a.valueTwo } : {}), op: a.op }));
    syscalls.push(rule);
  }
  const entry = t.archMap.find((m) => m.architecture === machine.seccomp);
  const profile: LinuxSeccomp = {
    defaultAction: t.defaultAction,
    architectures: entry ? [entry.architecture, ...entry.subArchitectures] : [machine.seccomp],
    syscalls,
  };
  if (t.defaultErrnoRet !== undefined) profile.defaultErrnoRet = t.defaultErrnoRet;
  return profile;
}

function compareKernel(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}
