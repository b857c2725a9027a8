/*
 * cli-output.test.ts - `--format` as Docker and podman users type it: the Go
 * template forms runts understands, and the ones it refuses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRuntsError } from '../../src/errors.ts';
import { formatTemplate } from '../../src/cli/output.ts';

const container = { Id: 'web', State: { Status: 'running', Pid: 42, Running: true }, Config: { Env: ['A=1'] }, NetworkSettings: { Ports: {} } };

test('fields by path, JSON of a field, text around them, and Go\'s <no value>', () => {
  assert.equal(formatTemplate('{{.State.Status}}', container), 'running');
  assert.equal(formatTemplate('{{ .Id }} {{.State.Pid}} {{.State.Running}}', container), 'web 42 true');
  assert.equal(formatTemplate('{{json .Config}}', container), '{"Env":["A=1"]}');
  assert.equal(formatTemplate('{{json .Nothing}}', container), 'null');
  assert.equal(formatTemplate('{{.State.Nothing}}|{{.Id.Deeper}}', container), '<no value>|<no value>');
  assert.equal(formatTemplate('{{.Id}}\\t{{.State.Status}}\\n', container), 'web\trunning\n');
  assert.equal(formatTemplate('{{.}}', 'x'), 'x');
});

test('what is not understood is refused, not misprinted', () => {
  for (const t of ['{{range .Config.Env}}{{.}}{{end}}', '{{if .State.Running}}up{{end}}', '{{index .Config.Env 0}}']) {
    assert.throws(() => formatTemplate(t, container), (e: unknown) => isRuntsError(e, 'EINVAL') && /only \{\{\.Field\.Path\}\}/.test((e as Error).message), t);
  }
});
