/*
 * process.*: what the container process is, seen from inside by the probe.
 */
import assert from 'node:assert/strict';
import type { OciCapabilities } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { capBits, capHex } from '../lib/probe.ts';

checkLeaksAfterFile();

containerTest('args reach the process exactly', async (c) => {
  const args = ['/probe', '--', 'two words', '', 'tab\there', 'ünïcode', '--flag=x'];
  const p = await c.probe({ process: { args } });
  assert.deepEqual(p.argv, args);
});

// runc adds HOME (from /etc/passwd) when the config does not set it; nothing else may appear.
containerTest('env is exactly the configured list (HOME may be added)', async (c) => {
  const env = ['PATH=/bin', 'FOO=bar baz', 'EMPTY=', 'WITH_EQUALS=a=b'];
  const p = await c.probe({ process: { env } });
  assert.deepEqual(p.env.filter((e) => !e.startsWith('HOME=')), env);
});

containerTest('a configured HOME is kept', async (c) => {
  const p = await c.probe({ process: { env: ['PATH=/bin', 'HOME=/tmp'] } });
  assert.deepEqual(p.env, ['PATH=/bin', 'HOME=/tmp']);
});

containerTest('cwd is the configured directory', async (c) => {
  const p = await c.probe({ process: { cwd: '/tmp' } });
  assert.equal(p.cwd, '/tmp');
});

containerTest('uid and gid are the configured user', async (c) => {
  const p = await c.probe({ process: { user: { uid: 1000, gid: 1000 } } });
  assert.deepEqual([p.uid, p.euid, p.gid, p.egid], [1000, 1000, 1000, 1000]);
});

containerTest('additionalGids become the supplementary groups', async (c) => {
  const p = await c.probe({ process: { user: { uid: 1000, gid: 1000, additionalGids: [5, 65534] } } });
  assert.deepEqual([...p.groups].sort((a, b) => a - b), [5, 65534]);
});

containerTest('without additionalGids a root process has no supplementary groups', async (c) => {
  const p = await c.probe();
  assert.deepEqual(p.groups, []);
});

containerTest('umask is the configured one', async (c) => {
  const p = await c.probe({ process: { user: { uid: 0, gid: 0, umask: 0o027 } } });
  assert.equal(p.umask, 0o027);
});

containerTest('rlimits are set to the configured soft and hard values', async (c) => {
  // lowering only: the test machine's root may lack CAP_SYS_RESOURCE to raise a hard limit
  const rlimits = [
    { type: 'RLIMIT_NOFILE', soft: 512, hard: 1000 },
    { type: 'RLIMIT_CORE', soft: 1000, hard: 2000 },
    { type: 'RLIMIT_MSGQUEUE', soft: 4096, hard: 8192 },
  ];
  const p = await c.probe({ process: { rlimits } });
  for (const r of rlimits) assert.deepEqual(p.rlimits[r.type], [r.soft, r.hard], r.type);
});

/*
 * What execve(2) leaves of the configured sets (capabilities(7)). A root
 * process (no SECBIT_NOROOT, no file caps) gets P' = bounding | inheritable |
 * ambient, except that with no_new_privs it can gain nothing: P' is then
 * capped by the configured permitted set. A non-root process keeps only the
 * ambient set. E' = P'. Inheritable, bounding and ambient pass unchanged.
 */
function afterExec(caps: OciCapabilities, { uid, noNewPrivileges }: { uid: number; noNewPrivileges: boolean }) {
  const bnd = capBits(caps.bounding ?? []);
  const inh = capBits(caps.inheritable ?? []);
  const amb = capBits(caps.ambient ?? []);
  let prm = uid === 0 ? bnd | inh | amb : amb;
  if (noNewPrivileges) prm &= capBits(caps.permitted ?? []);
  return { CapInh: capHex(inh), CapPrm: capHex(prm), CapEff: capHex(prm), CapBnd: capHex(bnd), CapAmb: capHex(amb) };
}

const someCaps: OciCapabilities = {
  bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_NET_RAW'],
  permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],
  effective: ['CAP_CHOWN', 'CAP_KILL'],
  inheritable: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
  ambient: ['CAP_NET_BIND_SERVICE'],
};

for (const noNewPrivileges of [true, false]) {
  containerTest(`all five capability sets of a root process match the config (noNewPrivileges ${noNewPrivileges})`, async (c) => {
    const p = await c.probe({ process: { capabilities: someCaps, noNewPrivileges } });
    assert.deepEqual(p.caps, afterExec(someCaps, { uid: 0, noNewPrivileges }));
  });
}

containerTest('all five capability sets of a non-root process match the config', async (c) => {
  const p = await c.probe({ process: { user: { uid: 1000, gid: 1000 }, capabilities: someCaps } });
  assert.deepEqual(p.caps, afterExec(someCaps, { uid: 1000, noNewPrivileges: true }));
});

/*
 * `runc spec` lists ambient capabilities without listing them as inheritable.
 * The kernel refuses to raise those; runc drops them silently, and configs
 * written by `runc spec` must keep working.
 */
containerTest('ambient capabilities that are not inheritable are dropped, not fatal (runc spec default)', async (c) => {
  const p = await c.probe({ process: { capabilities: { inheritable: null } } });
  assert.equal(p.caps.CapAmb, capHex(0n));
});

containerTest('empty capability sets leave a root process with none', async (c) => {
  const none: OciCapabilities = { bounding: [], permitted: [], effective: [], inheritable: [], ambient: [] };
  const p = await c.probe({ process: { capabilities: none } });
  assert.deepEqual(p.caps, afterExec(none, { uid: 0, noNewPrivileges: true }));
});

containerTest('noNewPrivileges true sets no_new_privs', async (c) => {
  const p = await c.probe({ process: { noNewPrivileges: true } });
  assert.equal(p.noNewPrivs, 1);
});

containerTest('noNewPrivileges false leaves no_new_privs off', async (c) => {
  const p = await c.probe({ process: { noNewPrivileges: false } });
  assert.equal(p.noNewPrivs, 0);
});

containerTest('oomScoreAdj is applied', async (c) => {
  const p = await c.probe({ process: { oomScoreAdj: 321 } });
  assert.equal(p.oomScoreAdj, 321);
});

containerTest('the process has only fds 0, 1 and 2', async (c) => {
  const p = await c.probe();
  assert.deepEqual(Object.keys(p.fds ?? {}).sort(), ['0', '1', '2']);
});
