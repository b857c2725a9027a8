/*
 * The book's test machinery: reading marked blocks out of a chapter and
 * matching real output against the output the book shows, placeholders
 * included. (Running the blocks is scripts/book-test.ts, run by test.sh.)
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BookFormatError, extractBlocks } from '../../scripts/book-extract.ts';
import { matchOutput } from '../../scripts/book-match.ts';

const fence = '```';

test('run blocks carry their output block, options and line numbers', () => {
  const md = [
    '# t', '',
    `${fence}sh {run}`, 'echo hi', fence, '',
    `${fence}text {output}`, 'hi', fence, '',
    `${fence}sh {run status=2 timeout=300}`, 'exit 2', fence,
    `${fence}sh {norun: downloads from the internet}`, 'curl example.org', fence,
    `${fence}c`, 'int main(void) { return 0; }', fence,
  ].join('\n');
  const blocks = extractBlocks(md);
  assert.deepEqual(blocks.map((b) => [b.kind, b.line]), [['run', 3], ['run', 11], ['norun', 14], ['plain', 17]]);
  assert.equal(blocks[0]!.output?.code, 'hi');
  assert.equal(blocks[1]!.status, 2);
  assert.equal(blocks[1]!.timeout, 300);
  assert.equal(blocks[2]!.reason, 'downloads from the internet');
});

test('a shell block without a mark is refused, naming its line', () => {
  assert.throws(() => extractBlocks(`text\n\n${fence}sh\nls\n${fence}\n`), (e: Error) => e instanceof BookFormatError && /line 3: a sh block must say \{run\}/.test(e.message));
  assert.throws(() => extractBlocks(`${fence}sh {norun}\nls\n${fence}\n`), /needs a reason/);
  assert.throws(() => extractBlocks(`${fence}sh {runn}\nls\n${fence}\n`), /unknown block mark/);
});

test('an output block must directly follow its run block', () => {
  assert.throws(() => extractBlocks(`${fence}text {output}\nhi\n${fence}\n`), /must directly follow a \{run\} block/);
  const prose = `${fence}sh {run}\necho\n${fence}\n\nsome prose\n\n${fence}text {output}\n\n${fence}\n`;
  assert.throws(() => extractBlocks(prose), /must directly follow/);
});

test('blocks inside indented containers (details, lists) are found', () => {
  const md = `::: details Solution\n  ${fence}sh {run}\n  echo a\n  ${fence}\n:::\n`;
  assert.equal(extractBlocks(md)[0]!.code, 'echo a');
});

test('placeholders: numbers, hex, words, anything', () => {
  assert.equal(matchOutput('NSpid:\t<PID>\t1', 'NSpid:\t4242\t1'), null);
  assert.ok(matchOutput('NSpid:\t<PID>\t1', 'NSpid:\tabc\t1'));
  assert.equal(matchOutput('CapEff:\t<HEX>', 'CapEff:\t00000000a80425fb'), null);
  assert.equal(matchOutput('"bundle": "<...>/lab/01",', '"bundle": "/home/x/lab/01",'), null);
  assert.equal(matchOutput('parent: 1 (<WORD>)', 'parent: 1 (systemd)'), null);
  assert.ok(matchOutput('parent: 1 (<WORD>)', 'parent: 1 (two words)'));
});

test('columns: runs of spaces match any width, leading spaces are optional', () => {
  assert.equal(matchOutput('    PID    PPID USER\n  <PID>       <N> root', '    PID    PPID USER\n  31337   1 root'), null);
});

test('a line of ... stands for any number of lines, none included', () => {
  assert.equal(matchOutput('start\n...\n0::/x', 'start\n4:memory:/x\n3:pids:/x\n0::/x'), null);
  assert.equal(matchOutput('start\n...\n0::/x', 'start\n0::/x'), null);
  assert.equal(matchOutput('a\n...', 'a\nb\nc'), null);
});

test('a mismatch names the first differing line of the book and the real line', () => {
  assert.deepEqual(matchOutput('one\ntwo\nthree', 'one\n2\nthree'), { line: 2, expected: 'two', actual: '2' });
  assert.deepEqual(matchOutput('one', 'one\nextra'), { line: 2, expected: '(end of output)', actual: 'extra' });
  assert.deepEqual(matchOutput('one\ntwo', 'one'), { line: 2, expected: 'two', actual: '(no more output)' });
});

test('every chapter of the book parses: each shell block is marked', () => {
  const docs = join(import.meta.dirname, '../../docs');
  for (const f of readdirSync(docs).filter((x) => /^\d\d-.*\.md$/.test(x))) {
    assert.doesNotThrow(() => extractBlocks(readFileSync(join(docs, f), 'utf8')), f);
  }
});

test('the lab VM: {run vm} blocks, and the result lines a `sandbox: vm` chapter sends back from the guest', async () => {
  const { parseVmResultLine, vmBlockScript, vmResultLine, vmTimeout, VM_BOOT_ALLOWANCE } = await import('../../scripts/book-vm.ts');
  const [a, b] = extractBlocks(`${fence}sh {run vm}\nls\n${fence}\n${fence}sh {run vm timeout=300 status=1}\nfalse\n${fence}\n`);
  assert.deepEqual([a!.vm, b!.vm, b!.timeout, b!.status], [true, true, 300, 1]);
  assert.equal(extractBlocks(`${fence}sh {run}\nls\n${fence}\n`)[0]!.vm, false);
  assert.throws(() => extractBlocks(`${fence}sh {run vm=1}\nls\n${fence}\n`), /unknown option "vm=1"/);
  const failed = { line: 42, ok: false, ms: 1200, message: 'exit status 1\n  output:\n    | "quoted"' };
  assert.deepEqual(parseVmResultLine(vmResultLine(failed)), failed);
  assert.deepEqual(parseVmResultLine(vmResultLine({ line: 7, ok: true, ms: 3 })), { line: 7, ok: true, ms: 3 });
  assert.equal(parseVmResultLine('  ok   line 7 (0.1 s): echo __book_vm_result__'), null); // the guest's other output
  assert.equal(parseVmResultLine('__book_vm_result__ {"line":7}'), null);
  assert.equal(vmTimeout([{ timeout: 60 }, { timeout: 300 }]), 360 + VM_BOOT_ALLOWANCE);
  assert.match(vmBlockScript('echo hi', "/src/it's here"), /^mkdir -p \/usr\/local\/bin && ln -sf '\/src\/it'\\''s here'\/bin\/runts \/usr\/local\/bin\/runts\ncd '\/src\/it'\\''s here' \|\| exit 125\necho hi\n$/);
});
