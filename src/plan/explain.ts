/**
 * A plan as words, for `runts plan`: first what runts does on the host
 * before the executor starts (the cgroups, each limit as the file write it
 * is, the device rules), then the executor's steps, numbered, under the
 * process that runs them (runts:[0:PARENT], runts:[1:INIT]), with the hooks
 * runts runs while INIT waits for them, and last the files runts writes
 * once the container is created.
 *
 * The book: docs/09-writing-runtime.md, "The plan and the C stage", and
 * docs/05-cgroups.md, "What runts does".
 */
import { v1RuleText } from '../cgroups/device-rules.ts';
import type { Hook } from '../oci/types.ts';
import type { Plan } from './plan.ts';

const RUNTS = 'runts  (on the host)';

export function explainPlan(plan: Plan): string {
  const width = String(plan.steps.length).length;
  const lines = [`${RUNTS}  before runts-init starts`, ...cgroupLines(plan)];
  let actor = '';
  plan.steps.forEach((s, i) => {
    if (s.actor !== actor) {
      actor = s.actor;
      lines.push(actor === 'parent' ? 'runts:[0:PARENT]  (outside the container)' : 'runts:[1:INIT]  (the future container process)');
    }
    lines.push(`  ${String(i + 1).padStart(width)}. ${s.text}`);
    if (s.op === 'STEP_HOOKS_SYNC') {
      lines.push(`${RUNTS}  while INIT waits`, ...hookLines('prestart', plan.hooks.prestart), ...hookLines('createRuntime', plan.hooks.createRuntime), '  - answer with the state documents the hooks in the container read');
      actor = '';
    }
  });
  lines.push(`${RUNTS}  once INIT reports created`, `  - write ${plan.state.dir}/state.json, and the record of what the next verbs may do without Node`);
  if (plan.state.pidFile) lines.push(`  - write INIT's pid to ${plan.state.pidFile}`);
  lines.push(...hookLines('poststart', plan.hooks.poststart, ' (at start)'), ...hookLines('poststop', plan.hooks.poststop, ' (at delete)'));
  return lines.join('\n') + '\n';
}

function cgroupLines({ cgroup: c }: Plan): string[] {
  const out: string[] = [];
  if (c.note) out.push(`  - ${c.note}`);
  for (const dir of c.dirs) out.push(`  - mkdir -p ${dir}`);
  if (c.version === 2 && c.dirs.length && c.controllers.length) out.push(`  - enable ${c.controllers.join(' ')} in cgroup.subtree_control on the way down${c.top ? ` from ${c.top}` : ''}`);
  for (const w of c.writes) out.push(`  - echo ${JSON.stringify(w.value)} > ${w.path}  (${w.field}${w.orNextFirst ? '; if refused, after the next write' : ''})`);
  if (c.deviceRules) {
    out.push('  - the rules of the device program (step 1): the last that matches decides, none matching denies');
    for (const r of c.deviceRules) out.push(`      ${r.allow ? 'allow' : 'deny'} ${v1RuleText(r)}`);
  }
  return out;
}

function hookLines(kind: string, hooks: Hook[], when = ''): string[] {
  return hooks.map((h) => `  - run the ${kind} hook ${[h.path, ...(h.args ?? []).slice(1)].map((a) => JSON.stringify(a)).join(' ')}${when}`);
}
