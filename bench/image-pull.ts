/*
 * image-pull.ts - a benchmark, not a test: pull + unpack of a large
 * multi-layer image from a local registry, `runts pull` against
 * `skopeo copy` + `umoci unpack` (what a tool without a store does), in the
 * same run on the same machine. Prints the medians and the ratio.
 *
 *   node bench/image-pull.ts [layers=8] [MB per layer=16] [rounds=3]
 *
 * Needs root, docker-registry, skopeo and umoci (scripts/setup.sh), and a
 * build (`npm run build`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxLayer, ociLayout, tarOf } from '../test/integration/image-fixtures.ts';

const [layers = 8, mb = 16, rounds = 3] = process.argv.slice(2).map(Number);
const runts = join(import.meta.dirname, '../bin/runts');
const dir = mkdtempSync(join(tmpdir(), 'runts-bench-pull-'));
const port = await new Promise<number>((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });
const host = `127.0.0.1:${port}`;
writeFileSync(join(dir, 'registry.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${host}\n`);
const registry = spawn('docker-registry', ['serve', join(dir, 'registry.yml')], { stdio: 'ignore' });
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`http://${host}/v2/`)).ok) break; } catch { /* starting */ }
    if (i > 200) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  // Half random (incompressible), half text, in files of 256 KiB.
  const built: { tar: Buffer; compress: 'gzip' }[] = [{ tar: busyboxLayer(), compress: 'gzip' }];
  for (let l = 0; l < layers; l++) {
    const files = [];
    for (let f = 0; f < mb * 4; f++) {
      const body = f % 2 ? randomBytes(256 * 1024).toString('latin1') : `layer ${l} file ${f}\n`.repeat(13000).slice(0, 256 * 1024);
      files.push({ name: `data/l${l}/f${f}`, body });
    }
    built.push({ tar: await tarOf(files), compress: 'gzip' });
  }
  const layout = ociLayout(join(dir, 'layout'), 'big', built);
  execFileSync('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout.dir}:big`, `docker://${host}/bench/big:1`], { stdio: 'ignore' });

  const time = (fn: () => void) => { const t = process.hrtime.bigint(); fn(); return Number(process.hrtime.bigint() - t) / 1e6; };
  const ours: number[] = [], theirs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const store = join(dir, `store-${r}`), oci = join(dir, `oci-${r}`), bundle = join(dir, `bundle-${r}`);
    ours.push(time(() => execFileSync(runts, ['pull', '-q', '--insecure', `${host}/bench/big:1`], { env: { ...process.env, RUNTS_STORE: store }, stdio: 'ignore' })));
    theirs.push(time(() => {
      execFileSync('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${host}/bench/big:1`, `oci:${oci}:big`], { stdio: 'ignore' });
      execFileSync('umoci', ['unpack', '--image', `${oci}:big`, bundle], { stdio: 'ignore' });
    }));
    for (const d of [store, oci, bundle]) rmSync(d, { recursive: true, force: true });
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(`image: ${layers + 1} layers, ${layers * mb} MB of data; ${rounds} rounds`);
  console.log(`runts pull (+unpack):        ${median(ours).toFixed(0)} ms  (${ours.map((t) => t.toFixed(0)).join(', ')})`);
  console.log(`skopeo copy + umoci unpack:  ${median(theirs).toFixed(0)} ms  (${theirs.map((t) => t.toFixed(0)).join(', ')})`);
  console.log(`ratio runts / (skopeo+umoci): ${(median(ours) / median(theirs)).toFixed(2)}`);
} finally {
  registry.kill('SIGTERM');
  await new Promise((r) => registry.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
