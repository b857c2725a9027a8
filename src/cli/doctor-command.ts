/**
 * `runts doctor`: is this machine ready for runts and the book's labs?
 * Exit status 1 when something required is missing.
 *
 * The book: docs/02-preparing-environment.md.
 */
import type { Command } from 'commander';
import type { RuntimeContext } from '../runtime/create.ts';
import { print, printJson } from './output.ts';

export function registerDoctorCommand(program: Command, _ctx: () => RuntimeContext): void {
  program
    .command('doctor')
    .description('check the kernel features and tools that runts and the book need')
    .option('--json', 'print the checks as JSON')
    .option('--user <name>', 'check what this user needs to run runts rootless (default: the caller)')
    .action(async (f: { json?: boolean; user?: string }) => {
      const { formatChecks, realHost, runChecks } = await import('../doctor/checks.ts');
      const checks = runChecks(realHost, { user: f.user });
      if (f.json) printJson(checks);
      else print(formatChecks(checks));
      if (checks.some((c) => c.status === 'missing')) process.exitCode = 1;
    });
}
