/*
 * The book's test machinery: reading marked blocks out of a chapter and
 * matching real output against the output the book shows, placeholders
 * included. (Running the blocks is scripts/book-test.ts, run by test.sh.)
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BookFormatError, extractBlocks } from '../../scripts/book-extract.ts';
import { matchOutput, wildcardProblem } from '../../scripts/book-match.ts';
import { danglingRefs } from '../../scripts/book-refs.ts';

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

test('an expected output that checks nothing is refused: a literal line, at most half wildcards', () => {
  assert.match(wildcardProblem('...') ?? '', /at least one line of literal text/);
  assert.match(wildcardProblem('<...>\n<N>\n<HEX>') ?? '', /at least one line of literal text/);
  assert.match(wildcardProblem('runts:[0:PARENT]\n<...>\n<...>\n<...>') ?? '', /at most half wildcards: 3 of its 4 lines/);
  assert.match(wildcardProblem('a\n...\n<...>') ?? '', /2 of its 3 lines/);
  assert.equal(wildcardProblem('a\n...'), null);
  assert.equal(wildcardProblem('NSpid:\t<PID>\t1'), null);
  assert.equal(wildcardProblem('...\n0::/runts/first\nok <...>'), null);
  assert.equal(wildcardProblem(''), null); // an empty block: the command prints nothing
  // refused when a chapter is read, naming the output block's line
  assert.throws(() => extractBlocks(`${fence}sh {run}\nls\n${fence}\n\n${fence}text {output}\n...\n${fence}\n`), /line 5: an \{output\} block needs at least one line of literal text/);
});

test('every chapter of the book parses: each shell block is marked', () => {
  const docs = join(import.meta.dirname, '../../docs');
  for (const f of readdirSync(docs).filter((x) => /^\d\d-.*\.md$/.test(x))) {
    assert.doesNotThrow(() => extractBlocks(readFileSync(join(docs, f), 'utf8')), f);
  }
});

test('a reference to a missing chapter or file is found, with its file and line', () => {
  // built from pieces, so that this file itself holds no dangling reference
  const d = 'docs', l = 'labs', ch = 'chap' + 'ter';
  const repo = mkdtempSync(join(tmpdir(), 'book-refs-'));
  try {
    mkdirSync(join(repo, d), { recursive: true });
    mkdirSync(join(repo, l, '01-a'), { recursive: true });
    mkdirSync(join(repo, 'src'));
    writeFileSync(join(repo, l, '01-a', 'run.sh'), '#!/bin/sh\n');
    writeFileSync(join(repo, d, '01-a.md'), [
      `# 1`, `See [${ch} 1](./01-a.md), ${d}/01-a.md and ${l}/01-a/run.sh.`,
      `Then [${ch} 2](./02-b.md), and ~/runts/${l}/01-a/gone.sh.`,
      `${ch}s 1 and 3 are the ones to read; ${l}/NN-topic/ is a pattern.`,
    ].join('\n'));
    writeFileSync(join(repo, 'src', 'x.ts'), `// The book: ${d}/04-d.md; image test/bb is no file\n`);
    const got = danglingRefs(repo).map((r) => `${r.file}:${r.line}: ${r.ref}`);
    assert.deepEqual(got.sort(), [
      `${d}/01-a.md:3: ./02-b.md`,
      `${d}/01-a.md:3: ${ch} 2`,
      `${d}/01-a.md:3: ${l}/01-a/gone.sh`,
      `${d}/01-a.md:4: ${ch}s 1 and 3`,
      `${join('src', 'x.ts')}:1: ${d}/04-d.md`,
    ].sort());
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
});

test('no reference in the project leads nowhere (docs, README, labs, src, native, test, bench, scripts)', () => {
  const refs = danglingRefs(join(import.meta.dirname, '../..'));
  assert.deepEqual(refs.map((r) => `${r.file}:${r.line}: ${r.ref}: ${r.why}`), []);
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
