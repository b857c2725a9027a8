/**
 * A plan: the whole container, decided before anything is touched. What
 * runts does on the host before the executor starts (the cgroups and their
 * limits), the executor's steps, the hooks runts runs itself, and the files
 * it writes once the container is created. compile.ts makes one,
 * runtime/create.ts carries it out, explain.ts prints it (`runts plan`).
 *
 * Design: docs/design/runtime-core.md, "One probe, one pure compiler".
 */
import type { Hook } from '../oci/types.ts';
import type { CgroupPlan } from './compile-cgroup.ts';
import type { Step } from '../protocol/steps.ts';

export interface Plan {
  id: string;
  cgroup: CgroupPlan;
  /** The executor's steps, in order. */
  steps: Step[];
  /** The hooks runts runs on the host: prestart and createRuntime when INIT pauses, poststart after start, poststop after delete. */
  hooks: { prestart: Hook[]; createRuntime: Hook[]; poststart: Hook[]; poststop: Hook[] };
  /** The state directory, and the pid file asked for. */
  state: { dir: string; pidFile?: string | undefined };
}
