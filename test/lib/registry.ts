/*
 * registry.ts - a real OCI registry for the pull tests: Debian's
 * docker-registry on a free loopback port, plain HTTP, its storage in a
 * directory of the test's; skopeo pushes the images the tests build
 * (test/integration/image-fixtures.ts) into it. Stop every one with stopRegistries().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const registries: ChildProcess[] = [];

/** A loopback TCP port nobody listens on (now). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    }).on('error', reject);
  });
}

/** A docker-registry in `dir`, on a free loopback port; `extra` is more of its YAML config. Returns host:port. */
export async function startRegistry(dir: string, extra = ''): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const addr = `127.0.0.1:${await freePort()}`;
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${addr}\n${extra}`);
  const registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  registries.push(registry);
  let log = '';
  registry.stderr!.on('data', (d) => { log += d; });
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://${addr}/v2/`); // any answer: 200, or 401 where tokens are wanted
      return addr;
    } catch { /* not listening yet */ }
    if (registry.exitCode !== null || i > 600) throw new Error(`docker-registry did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops every registry startRegistry started, and waits for each. */
export async function stopRegistries(): Promise<void> {
  for (const registry of registries.splice(0)) {
    if (registry.exitCode !== null) continue;
    const gone = once(registry, 'exit');
    registry.kill('SIGTERM');
    await gone;
  }
}
