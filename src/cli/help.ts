/**
 * Help in runc's layout: a NAME section first ("runts delete - ..."), then
 * commander's usage, options and commands. The verbs runc has say so
 * ("as runc delete"): scripts and tests written for runc's help find the
 * words they look for. `runts foo -h` for an unknown verb is an error, as
 * in runc ("No help topic for 'foo'"), not the general help.
 *
 * The book: docs/09-writing-runtime.md, "The command line".
 */
import { Help, type Command } from 'commander';
import { RuntsError } from '../errors.ts';

/** runc's verbs: their help names the runc command they stand for. */
const RUNC_VERBS = new Set(['checkpoint', 'create', 'delete', 'events', 'exec', 'features', 'kill', 'list', 'pause', 'ps', 'restore', 'resume', 'run', 'spec', 'start', 'state', 'update']);

function qualifiedName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function nameSection(cmd: Command): string {
  const verb = cmd.parent && !cmd.parent.parent && RUNC_VERBS.has(cmd.name()) ? ` (as runc ${cmd.name()})` : '';
  return `NAME:\n   ${qualifiedName(cmd)} - ${cmd.description()}${verb}\n\n`;
}

/** Set on the program before its commands are added: they inherit it. */
export function configureRuncHelp(program: Command): void {
  program.configureHelp({
    // the description is in NAME: not again under the usage
    commandDescription: () => '',
    formatHelp: (cmd, helper) => nameSection(cmd) + Help.prototype.formatHelp.call(helper, cmd, helper),
  });
}

/** `runts VERB -h` for a verb the program does not know: runc's error, not the general help. */
export function refuseUnknownHelp(program: Command, verb: string | undefined, argv: string[]): void {
  if (verb === undefined || verb === 'help' || !argv.some((a) => a === '-h' || a === '--help')) return;
  if (program.commands.some((c) => c.name() === verb || c.aliases().includes(verb))) return;
  throw new RuntsError('EINVAL', `unknown command '${verb}': No help topic for '${verb}'`);
}
