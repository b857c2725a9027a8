/*
 * image-frontend.test.ts - the front end as a Docker user expects it, for
 * real: `runts export` of a container, `runts import` of that tar (a file,
 * or a pipe on stdin) and `runts run` of the new image; `runts import DIR`
 * of the built-in busybox rootfs; bad tars and bad flags refused with
 * nothing kept; `runts load -i` and `load < x.tar`; `run --pull never`.
 *
 * And a run undone after a failure whose undoing fails too: a CNI network of
 * the test's own, one plugin (a shell script) whose ADD kills the container
 * before it starts, as a container dying between create and start would,
 * and whose DEL fails until the test allows it. The error that stopped the
 * run is the one reported; the failed DEL is a warning, and the container is
 * kept for `runts rm` to try again, which then frees everything.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { hasCommand, isRoot, mountsUnder, waitFor, fileSkip } from '../lib/host.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';
import { BUSYBOX, busyboxLayer, ociLayout, sha, tarBuffer, tree } from './image-fixtures.ts';

// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const skip = fileSkip('front-end image tests', !isRoot() ? 'needs root' : !existsSync(BUSYBOX) ? 'needs `npm run build` (dist/images/busybox)' : !hasCommand('stat') ? 'needs stat (coreutils)' : false);

const base = join(ensureRunDir(), 'image-frontend');
const store = join(base, 'store');
const confDir = join(base, 'net.d');
const binDir = join(base, 'bin');
const NET = `${RUN_PREFIX}-flaky`;
const names: string[] = [];
const cname = (n: string) => { const name = `${RUN_PREFIX}-${n}`; names.push(name); return name; };

after(() => {
  writeFileSync(join(base, 'del-ok'), '');
  for (const n of names) runts(['container', 'rm', '-f', n]);
  rmSync(base, { recursive: true, force: true });
});
checkLeaksAfterFile();

interface Result { code: number; stdout: string; stderr: string }
function runts(args: string[], input?: Buffer): Result {
  const env: NodeJS.ProcessEnv = {
    ...process.env, RUNTS_STORE: store, RUNTS_CNI_CONFIG_DIR: confDir, RUNTS_CNI_PATH: binDir,
    // a bridge of the test's own, should anything ask for one (every run here says --network)
    RUNTS_NET_BRIDGE: `${RUN_PREFIX}h`, RUNTS_NET_SUBNET: '10.235.0.0/24', RUNTS_NET_STATE: join(base, 'net'), RUNTS_NET_CONFIG: join(base, 'networks'),
  };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(RUNTS_BIN, ['--root', join(base, 'state'), ...args], { env, input, encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function ok(args: string[], input?: Buffer): string {
  const r = runts(args, input);
  assert.equal(r.code, 0, `runts ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
function fails(args: string[], re: RegExp, input?: Buffer): void {
  const r = runts(args, input);
  assert.notEqual(r.code, 0, `runts ${args.join(' ')} succeeded`);
  assert.match(r.stderr, re);
}
const imageId = (out: string) => /\((sha256:[0-9a-f]{64})\)$/m.exec(out)![1]!;
const configOf = (id: string) => JSON.parse(readFileSync(join(store, 'blobs/sha256', id.slice(7)), 'utf8')) as {
  os: string; architecture: string; config: { Cmd?: string[]; Env?: string[]; WorkingDir?: string }; rootfs: { diff_ids: string[] }; history: { comment: string }[];
};
/** What bad input must leave as it was: the image list, blobs, layers, and an empty tmp/. */
const storeState = () => ({
  images: existsSync(join(store, 'images.json')) ? readFileSync(join(store, 'images.json'), 'utf8') : '',
  blobs: readdirSync(join(store, 'blobs/sha256')).sort(),
  layers: readdirSync(join(store, 'layers')).sort(),
  tmp: existsSync(join(store, 'tmp')) ? readdirSync(join(store, 'tmp')) : [],
});
// the network's files are bind-mounted over /etc: their mount points are the container's, not the image's
const NETWORK_FILES = new Set(['etc/hosts', 'etc/hostname', 'etc/resolv.conf']);
const withoutNetworkFiles = (t: Map<string, string>) => new Map([...t].filter(([k]) => !NETWORK_FILES.has(k)));

/* ---- the tests ---- */

test('setup: a busybox image', { skip }, () => {
  mkdirSync(base, { recursive: true });
  ok(['load', ociLayout(join(base, 'layout'), 'test/bb:1', [{ tar: busyboxLayer(), compress: 'gzip' }]).dir]);
});

test('export a container, import the tar (a file, and gzip on stdin), run the new image: the same files', { skip }, async () => {
  const src = cname('src');
  ok(['run', '-d', '--network', 'none', '--name', src, 'test/bb:1', 'sh', '-c',
    'echo data > /root/file; rm /bin/vi; ln -s /root/file /root/link; mkdir -p /srv/d; chmod 700 /srv/d; chown 12:34 /root/file; touch /ready; exec sleep 60']);
  const merged = join(store, 'containers', src, 'merged');
  await waitFor(() => existsSync(join(merged, 'ready')), 'the container to make its changes');
  const file = join(base, 'src.tar');
  ok(['export', src, '-o', file]);
  const id = imageId(ok(['import', file, 'test/exported:1']));
  const piped = imageId(ok(['import', '-', 'test/piped'], gzipSync(readFileSync(file))));
  assert.equal(configOf(piped).rootfs.diff_ids[0], `sha256:${sha(readFileSync(file))}`, 'the diff id is the plain tar\'s, whatever the compression');

  const dst = cname('dst');
  ok(['run', '-d', '--network', 'none', '--name', dst, 'test/exported:1', 'sleep', '60']);
  const theirs = withoutNetworkFiles(tree(merged));
  assert.deepEqual(withoutNetworkFiles(tree(join(store, 'containers', dst, 'merged'))), theirs);
  assert.ok(theirs.size > 100);
  assert.match(theirs.get('root/file')!, /^file 5 .* 12:34$/);
  assert.match(theirs.get('root/link')!, /^link->\/root\/file /);
  assert.equal(theirs.has('bin/vi'), false);
  ok(['container', 'rm', '-f', src, dst]);
  assert.equal(ok(['run', '--rm', '--network', 'none', 'test/piped', 'sh', '-c', 'cat /root/link; test -e /bin/vi || echo no-vi; stat -c %a /srv/d']), 'data\nno-vi\n700\n');

  const config = configOf(id);
  assert.deepEqual(config.config, {}, 'no --change: an empty run config');
  assert.deepEqual([config.os, config.architecture], ['linux', process.arch === 'x64' ? 'amd64' : process.arch]);
  assert.equal(config.history.at(-1)!.comment, `imported from ${file}`);
  assert.deepEqual(mountsUnder(store), []);
});

test('import DIR of the built-in busybox rootfs: a runnable image, its layer the same tree; -c and -m shape the config', { skip }, () => {
  const out = ok(['import', '-c', 'CMD ["sh", "-c", "echo $GREETING from $PWD"]', '-c', 'ENV GREETING=hello', '-c', 'WORKDIR /tmp', '-m', 'the embedded image', BUSYBOX, 'test/busybox:1']);
  assert.match(out, /^Imported image: test\/busybox:1 \(sha256:[0-9a-f]{64}\)\n$/);
  assert.equal(ok(['run', '--rm', '--network', 'none', 'test/busybox:1']), 'hello from /tmp\n');
  const config = configOf(imageId(out));
  assert.deepEqual(config.config, { Cmd: ['sh', '-c', 'echo $GREETING from $PWD'], Env: ['GREETING=hello'], WorkingDir: '/tmp' });
  assert.equal(config.history.at(-1)!.comment, 'the embedded image');
  assert.deepEqual(tree(join(store, 'layers', config.rootfs.diff_ids[0]!.slice(7), 'diff')), tree(BUSYBOX));
  const [inspected] = JSON.parse(ok(['inspect', 'test/busybox:1'])) as { RepoTags: string[]; Config: { Cmd: string[] } }[];
  assert.deepEqual(inspected!.RepoTags, ['test/busybox:1']);
});

test('a corrupt, truncated, empty or hostile tar, and bad flags: a clear error, nothing kept', { skip }, async () => {
  const good = readFileSync(join(base, 'src.tar'));
  const mtime = new Date(1e12);
  const file = (name: string) => [{ name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime }, Buffer.from('x')] as const;
  // headers at 0 (a), 512 (a/x, its data at 1024) and 1536 (a/y): the last one damaged
  const corrupt = await tarBuffer([[{ name: 'a', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime }], [...file('a/x')], [...file('a/y')]]);
  corrupt[1536 + 10] = corrupt[1536 + 10]! ^ 0xff;
  const hostile = await tarBuffer([
    [{ name: 'etc', type: 'symlink', linkname: '/etc', mode: 0o777, uid: 0, gid: 0, mtime }],
    [...file('etc/runts-escape')],
  ]);
  const cases: [string, RegExp, Buffer?][] = [
    ['truncated', /: truncated tar: the stream ends inside /],
    ['corrupt', /: corrupt tar: bad header checksum at byte 1536: /],
    ['cut.tar.gz', /: not a readable tar archive: unexpected end of file/],
    ['empty', /: no entries: not a tar archive, or an empty one/],
    ['hostile', /import .*hostile: layer .*: layer entry "etc\/runts-escape" goes through the symlink etc: refused/],
  ];
  const files: Record<string, Buffer> = { truncated: good.subarray(0, good.length - 5000), corrupt, 'cut.tar.gz': gzipSync(good).subarray(0, 20000), empty: Buffer.alloc(0), hostile };
  const before = storeState();
  for (const [name, re] of cases) {
    writeFileSync(join(base, name), files[name]!);
    fails(['import', join(base, name), 'test/bad'], re);
    assert.deepEqual(storeState(), before, name);
  }
  assert.ok(!existsSync('/etc/runts-escape'));
  fails(['import', '-', 'test/bad'], /^runts: stdin: no entries/, Buffer.alloc(0));
  fails(['import', '-', 'test/bad'], /^runts: stdin: truncated tar/, good.subarray(0, 4096 + 100));
  fails(['import', '-c', 'FROM scratch', BUSYBOX, 'test/bad'], /--change FROM scratch: expected CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER or WORKDIR/);
  fails(['import', BUSYBOX, `test/bad@sha256:${'a'.repeat(64)}`], /an import is named by a tag, not a digest/);
  fails(['import', BUSYBOX, 'Bad/Name'], /invalid image reference: Bad\/Name/);
  fails(['import', '-m', 'x', join(base, 'layout'), 'test/bad'], /an image archive, whose images keep their own configs: --change and --message are for a root filesystem/);
  fails(['import', join(base, 'nothing-here')], /import .*nothing-here: ENOENT/);
  assert.deepEqual(storeState(), before);
});

test('load -i, --input and stdin read an archive, the operand still does; a root filesystem is refused with a hint', { skip }, () => {
  const saved = join(base, 'bb.tar');
  ok(['save', 'test/bb:1', '-o', saved]);
  assert.match(ok(['load', '-i', saved, '--name', 'test/load-i:1']), /^Loaded image: test\/load-i:1 \(sha256:/);
  assert.match(ok(['load', '--input', saved, '--name', 'test/load-input:1']), /^Loaded image: test\/load-input:1 \(sha256:/);
  assert.match(ok(['load', '--name', 'test/load-stdin:1'], readFileSync(saved)), /^Loaded image: test\/load-stdin:1 \(sha256:/);
  assert.match(ok(['load', '--name', 'test/load-gz:1'], gzipSync(readFileSync(saved))), /^Loaded image: test\/load-gz:1 \(sha256:/);
  assert.match(ok(['load', saved, '--name', 'test/load-operand:1']), /^Loaded image: test\/load-operand:1 \(sha256:/);
  assert.match(ok(['import', saved, 'test/import-archive:1']), /^Imported image: test\/import-archive:1 \(sha256:/, 'import of an archive: load\'s meaning');
  fails(['load', saved, '-i', join(base, 'other.tar')], /name the archive once/);
  fails(['load', '-i', join(base, 'src.tar')], /src\.tar: neither an OCI image layout .* a root filesystem becomes an image with `runts import`/);
  for (const n of ['load-i', 'load-input', 'load-stdin', 'load-gz', 'load-operand', 'import-archive']) ok(['rmi', `test/${n}:1`]);
});

test('inspect and --format as Docker users script them: State, Config, Mounts, GraphDriver; images and ps by template; exec -u NAME', { skip }, () => {
  const name = cname('insp');
  const vol = join(base, 'vol');
  mkdirSync(vol, { recursive: true });
  ok(['run', '-d', '--network', 'none', '--name', name, '--hostname', 'box', '-e', 'COLOR=blue', '-v', `${vol}:/data:ro`, 'test/bb:1', 'sleep', '60']);
  try {
    const [c] = JSON.parse(ok(['inspect', name])) as [{
      Id: string; Path: string; Args: string[]; State: { Status: string; Running: boolean; Pid: number }; Config: { Hostname: string; Env: string[]; Image: string };
      Mounts: { Source: string; Destination: string; RW: boolean }[]; GraphDriver: { Name: string; Data: { MergedDir: string; UpperDir: string } };
    }];
    assert.equal(c.Id, name);
    assert.deepEqual([c.Path, c.Args], ['sleep', ['60']]);
    assert.equal(c.State.Status, 'running');
    assert.equal(c.State.Running, true);
    assert.ok(existsSync(`/proc/${c.State.Pid}`), 'State.Pid is a live process');
    assert.equal(c.Config.Hostname, 'box');
    assert.ok(c.Config.Env.includes('COLOR=blue'));
    assert.equal(c.Config.Image, 'test/bb:1');
    assert.deepEqual(c.Mounts, [{ Type: 'bind', Source: vol, Destination: '/data', RW: false }], 'the -v bind, not the /etc files runts writes');
    assert.equal(c.GraphDriver.Name, 'overlay');
    assert.ok(mountsUnder(c.GraphDriver.Data.MergedDir).length > 0, 'MergedDir is the mounted overlay');
    assert.equal(ok(['inspect', '--format', '{{.State.Status}} {{.Config.Hostname}} {{json .Args}}', name]), 'running box ["60"]\n');
    assert.match(ok(['inspect', '-f', '{{.Id}}', name, 'test/bb:1']), new RegExp(`^${name}\nsha256:[0-9a-f]{64}\n$`));
    const [image] = JSON.parse(ok(['inspect', 'test/bb:1'])) as [{ RepoTags: string[]; RepoDigests: string[]; Digest: string }];
    assert.deepEqual(image.RepoTags, ['test/bb:1']);
    assert.deepEqual(image.RepoDigests, [`test/bb@${image.Digest}`]);
    assert.match(ok(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']), /^test\/bb:1 [0-9a-f]{12}$/m);
    assert.match(ok(['ps', '--format', '{{.Names}} {{.Status}} {{.Command}}']), new RegExp(`^${name} running sleep 60$`, 'm'));
    assert.equal(ok(['exec', '-u', 'nobody', name, 'id']), 'uid=65534(nobody) gid=65534(nogroup)\n', 'exec -u NAME: the container\'s /etc/passwd');
    assert.equal(ok(['exec', '-u', '65534:0', name, 'id', '-g']), '0\n');
    fails(['exec', '-u', 'nosuchuser', name, 'id'], /--user nosuchuser: no user nosuchuser in the image's \/etc\/passwd/);
    fails(['inspect', '--format', '{{range .Args}}{{.}}{{end}}', name], /only \{\{\.Field\.Path\}\}/);
    fails(['inspect', `${RUN_PREFIX}-nosuch`], /no such image or container: /);
  } finally {
    runts(['container', 'rm', '-f', name]);
  }
});

test('run --pull never: the clear error with a hint, exit 125 as Docker\'s, nothing made', { skip }, () => {
  const r = runts(['run', '--rm', '--pull', 'never', '--network', 'none', 'test/nothing:1', 'true']);
  assert.equal(r.code, 125, 'runts failed, not the command');
  assert.match(r.stderr, /^runts: no such image: test\/nothing:1 \(--pull never: bring it in first with `runts pull`, `runts load` or `runts import`\)\n$/);
  assert.equal(ok(['run', '--rm', '--pull', 'never', '--network', 'none', 'test/bb:1', 'echo', 'stored']), 'stored\n');
  assert.deepEqual(readdirSync(join(store, 'containers')), []);
});

test('a run whose undoing fails too: the error that stopped it is reported, the failed DEL a warning; rm tries again', { skip }, async () => {
  mkdirSync(confDir, { recursive: true });
  mkdirSync(binDir, { recursive: true });
  const plugin = `${RUN_PREFIX}-flaky`;
  // ADD: with `kill` in the config, kill what runs in the container's namespace (it dies before start). DEL: fails until del-ok exists.
  writeFileSync(join(binDir, plugin), `#!/bin/sh
conf=$(cat)
echo "$CNI_COMMAND" >> "${base}/calls"
case "$CNI_COMMAND" in
ADD)
  case "$conf" in *'"kill":true'*)
    ino=$(stat -L -c %i "$CNI_NETNS")
    for p in /proc/[0-9]*; do [ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$ino" ] && kill -9 "\${p#/proc/}"; done ;;
  esac
  echo '{"cniVersion":"1.0.0"}' ;;
DEL)
  [ -e "${base}/del-ok" ] && exit 0
  echo '{"cniVersion":"1.0.0","code":11,"msg":"DEL refused on purpose"}'; exit 1 ;;
esac
`);
  chmodSync(join(binDir, plugin), 0o755);
  writeFileSync(join(confDir, '10-flaky.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: NET, plugins: [{ type: plugin, kill: true }] }));
  const calls = () => readFileSync(join(base, 'calls'), 'utf8').trim().split('\n');
  const warning = (name: string, failed: boolean) => new RegExp(`^runts: warning: container ${name}: ${failed ? 'undoing the failed run failed too: ' : ''}release ${name} from CNI network ${NET}.*: `
    + `plugin ${plugin} DEL: DEL refused on purpose \\(CNI error 11: try again later\\); the container is kept: \`runts rm ${name}\` tries again$`);

  const died = cname('died');
  const r = runts(['run', '--rm', '--name', died, '--network', `cni:${NET}`, 'test/bb:1', 'echo', 'never']);
  assert.equal(r.code, 125, r.stderr); // runts failed, not the command: Docker's 125
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, warning(died, true));
  assert.match(lines[1]!, new RegExp(`^runts: cannot start container ${died}( that has stopped|: its init process is gone)$`), 'the error that stopped the run comes last, unmasked');
  assert.deepEqual(calls(), ['ADD', 'DEL']);
  assert.ok(existsSync(join(store, 'containers', died, 'network.json')), 'the record DEL needs is kept');
  assert.deepEqual(mountsUnder(join(store, 'containers', died)).map((m) => m.mountPoint), [join(store, 'containers', died, 'netns')], 'the overlay is unmounted; only the pinned namespace stays, for DEL');

  // it ran: its exit status stands, the failed DEL is a warning
  writeFileSync(join(confDir, '10-flaky.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: NET, plugins: [{ type: plugin }] }));
  const ran = cname('ran');
  const s = runts(['run', '--rm', '--name', ran, '--network', `cni:${NET}`, 'test/bb:1', 'sh', '-c', 'echo ran; exit 3']);
  assert.equal(s.code, 3, s.stderr);
  assert.equal(s.stdout, 'ran\n');
  assert.match(s.stderr.trim(), warning(ran, false));
  assert.match(ok(['ps', '-a']), new RegExp(`${ran}\\s`), 'kept, for rm to try again');

  writeFileSync(join(base, 'del-ok'), '');
  ok(['rm', died, ran]);
  assert.deepEqual(calls(), ['ADD', 'DEL', 'ADD', 'DEL', 'DEL', 'DEL']);
  assert.deepEqual(readdirSync(join(store, 'containers')), []);
  assert.deepEqual(mountsUnder(store), []);
});

test('errors about what a flag set name the flag, not the OCI field', { skip }, () => {
  fails(['run', '--rm', '--network', 'none', '--pids-limit', '-5', 'test/bb:1', 'true'], /^runts: --pids-limit -5: must be -1\/0 \(unlimited\) or positive, not -5$/m);
  fails(['run', '--rm', '--network', 'none', '-v', '/nonexistent-runts-test:/x', 'test/bb:1', 'true'],
    /^runts: --volume \/nonexistent-runts-test:\/x \(source\): \/nonexistent-runts-test: no such file or directory$/m);
  assert.deepEqual(readdirSync(join(store, 'containers')), [], 'nothing made');
});
