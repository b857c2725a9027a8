/*
 * tiny.ts - the planner of tiny. Level 1: clone into new namespaces.
 *
 *   node tiny.ts plan [--bundle DIR] ID    print the plan
 *   node tiny.ts run  [--bundle DIR] ID    carry it out with tiny-exec
 *
 * It reads the part of config.json this level understands, decides every
 * step, and hands the plan to tiny-exec (beside this file) on its fd 3.
 * The plan is text, one step per line; the format is in tiny-exec.c.
 *
 * Containers From Scratch, chapter 9 (docs/09-writing-runtime.md).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Config {
  process: { args: string[]; env?: string[]; cwd: string };
  root: { path: string };
  hostname?: string;
  linux?: { namespaces?: { type: string }[] };
}

// config.json's namespace types, in the plan's words
const NAMESPACES: Record<string, string> = {
  pid: 'pid', mount: 'mount', uts: 'uts', ipc: 'ipc', network: 'net', cgroup: 'cgroup',
};

// One field: spaces, %, newlines and anything unusual become %XX; "" is "-".
const field = (s: string | number) =>
  s === '' ? '-' : String(s) === '-' ? '%2D' : String(s).replace(/[^\w./:=,+@{}-]/gu, encodeURIComponent);
const step = (op: string, ...fields: (string | number)[]) => [op, ...fields.map(field)].join(' ');

export function plan(config: Config, bundle: string, id: string): string[] {
  const root = resolve(bundle, config.root.path);
  const namespaces = (config.linux?.namespaces ?? []).map((n) => {
    if (!NAMESPACES[n.type]) throw new Error(`namespace ${n.type}: not supported`);
    return NAMESPACES[n.type]!;
  });
  const steps = [`# tiny plan for ${id}`];
  steps.push(step('clone', ...namespaces));
  steps.push('go');
  if (config.hostname) steps.push(step('hostname', config.hostname));
  steps.push(step('chroot', root));
  for (const e of config.process.env ?? []) steps.push(step('env', e));
  steps.push(step('chdir', config.process.cwd));
  steps.push(step('exec', ...config.process.args));
  return steps;
}

function main(argv: string[]) {
  let bundle = '.';
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--bundle' || argv[i] === '-b') bundle = argv[++i]!;
    else rest.push(argv[i]!);
  }
  const [verb, id] = rest;
  if (!verb || !id || !['plan', 'run'].includes(verb)) {
    console.error('usage: tiny plan|run [--bundle DIR] ID');
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Config;
  const lines = plan(config, resolve(bundle), id);
  if (verb === 'plan') {
    console.log(lines.join('\n'));
    return;
  }
  // run: the executor inherits our stdin, stdout and stderr; fd 3 carries the plan
  const exec = spawn(join(import.meta.dirname, 'tiny-exec'), [], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  exec.stdio[3]!.write(lines.join('\n') + '\nend\n');
  exec.on('exit', (code, signal) => process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
}

main(process.argv.slice(2));
