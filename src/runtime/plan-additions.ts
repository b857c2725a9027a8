/**
 * Steps that flags of the OCI verbs add to a compiled plan, each placed
 * where the executor needs it (native/protocol.h):
 *   - `--pidfd-socket` (create, run, exec): PARENT connects to the socket
 *     before anything else, and INIT sends a pidfd of itself over it before
 *     the process's own settings (no seccomp filter or user switch yet), so
 *     the receiver holds it when the verb returns. The message is runc's:
 *     "standard" for a container's first process, "setns" for exec's.
 *   - foreground `run` without `--no-subreaper`: PARENT becomes a child
 *     subreaper, so processes orphaned in a container without a pid
 *     namespace of its own come to it (and are reaped) rather than to the
 *     host's init, as runc makes itself one.
 *
 * Design: docs/design/runtime-core.md, "Flags of runc 1.2".
 */
import { RUNTS_SLOTS } from '../protocol/protocol.ts';
import { steps, type Step } from '../protocol/steps.ts';

/** The last slot is --pidfd-socket's (plan/compile.ts leaves it free). */
export const PIDFD_SLOT = RUNTS_SLOTS - 1;

export interface PlanAdditions {
  /** AF_UNIX socket (absolute path) that receives the pidfd. */
  pidfdSocket?: string;
  /** runc's message with the pidfd. */
  kind: 'standard' | 'setns';
  /** Foreground run: PARENT supervises. */
  supervise?: boolean;
  /** run --no-subreaper */
  noSubreaper?: boolean;
}

/** Adds the steps in place and returns the plan. */
export function addFlagSteps(plan: Step[], add: PlanAdditions): Step[] {
  if (add.pidfdSocket) {
    plan.splice(firstIndex(plan, ['STEP_CLONE', 'STEP_JOIN_NS']), 0, steps.pidfdConnect(PIDFD_SLOT, add.pidfdSocket));
    plan.splice(firstIndex(plan, ['STEP_SESSION_KEYRING', 'STEP_SETRLIMIT', 'STEP_SECCOMP', 'STEP_CHDIR']), 0, steps.sendPidfd(PIDFD_SLOT, add.kind));
  }
  if (add.supervise && !add.noSubreaper) plan.splice(firstIndex(plan, ['STEP_SUPERVISE']) + 1, 0, steps.subreaper());
  return plan;
}

function firstIndex(plan: Step[], ops: Step['op'][]): number {
  const i = plan.findIndex((s) => ops.includes(s.op));
  if (i < 0) throw new Error(`plan has none of ${ops.join(', ')}`);
  return i;
}
