/*
 * cli-verbs.test.ts - a known verb builds only its own group of commands
 * (COMMAND_GROUPS in src/cli/main.ts), which is what keeps the OCI verbs
 * fast. Through that path each command must show the help the whole tree
 * shows (`runts help VERB`): a verb filed under a group that does not
 * define it would be an unknown command.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
// With a config.json here, `run` is runc's verb, not the front end's `run IMAGE`.
const cwd = mkdtempSync(join(tmpdir(), 'runts-cli-unit-'));
writeFileSync(join(cwd, 'config.json'), '{}');
after(() => rmSync(cwd, { recursive: true, force: true }));

function runts(...args: string[]): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { cwd }, (err, stdout, stderr) => {
      resolve({ status: err ? Number(err.code) : 0, output: stdout + stderr });
    });
  });
}

test('each verb and alias, built alone, has the help the whole tree gives it', async () => {
  const top = await runts('--help');
  assert.equal(top.status, 0, top.output);
  const listed = top.output.slice(top.output.indexOf('Commands:')).split('\n').slice(1)
    .map((line) => /^ {2}([\w-]+)(?:\|([\w-]+))?/.exec(line)).filter((m) => m !== null)
    .flatMap((m) => [m[1]!, ...(m[2] ? [m[2]] : [])]);
  // `help` is commander's own; `ps` with no container id is the front end's
  // `container ls` (routeRun); run-image is hidden.
  const verbs = [...listed.filter((v) => v !== 'help' && v !== 'ps'), 'run-image'];
  assert.ok(verbs.includes('create') && verbs.includes('rm') && verbs.includes('network'), verbs.join(' '));
  const pending = [...verbs];
  const check = async () => {
    for (let verb = pending.shift(); verb !== undefined; verb = pending.shift()) {
      const [alone, whole] = await Promise.all([runts(verb, '--help'), runts('help', verb)]);
      assert.equal(alone.status, 0, `${verb} --help: ${alone.output}`);
      assert.equal(alone.output, whole.output, verb);
    }
  };
  await Promise.all([check(), check()]);
});
