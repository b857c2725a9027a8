/**
 * `runts inspect NAME` of a front-end container, in the shape Docker and
 * podman print (Id, State, Config, NetworkSettings, Mounts, GraphDriver),
 * so the scripts and `--format '{{.State.Status}}'` habits of their users
 * carry over. Everything is read from what the container already has: its
 * container.json, its bundle's config.json, its network.json, the core's
 * state of it, and how it ended (exit.ts).
 *
 * The book: docs/09-writing-runtime.md, "A tiny Docker".
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageStore } from '../image/store.ts';
import type { NetworkRecord } from '../network/container.ts';
import type { Spec } from '../oci/types.ts';
import type { RuntimeContext } from '../runtime/create.ts';
import { snapshotPaths } from '../image/snapshot.ts';
import { containerState, info, isOver } from './run.ts';

const readJson = <T>(file: string): T | undefined => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as T : undefined);

export function inspectContainer(ctx: RuntimeContext, images: ImageStore, name: string) {
  const c = info(images, name);
  const { status, pid, exitCode, finishedAt } = containerState(ctx, images, name);
  const p = snapshotPaths(images, name);
  const spec = readJson<Spec>(join(p.dir, 'config.json'));
  const net = readJson<NetworkRecord>(join(p.dir, 'network.json'));
  const args = spec?.process?.args ?? c.command;
  const ports: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of net?.ports ?? []) (ports[`${m.containerPort}/${m.proto}`] ??= []).push({ HostIp: m.hostIp, HostPort: String(m.hostPort) });
  const networkName = net?.mode === 'bridge' ? net.net?.name : net?.cni ? `cni:${net.cni.network.name}` : net?.mode;
  return {
    Id: name,
    Name: name,
    Created: c.created,
    Path: args[0] ?? '',
    Args: args.slice(1),
    // ExitCode -1: exited, but its supervisor was killed first; FinishedAt: Docker's zero time until then
    State: {
      Status: status, Running: status === 'running', Paused: status === 'paused', Pid: pid,
      ExitCode: exitCode ?? (isOver(status) ? -1 : 0), FinishedAt: finishedAt ?? '0001-01-01T00:00:00Z',
    },
    Image: c.image,
    ImageName: c.imageName,
    Config: {
      Hostname: spec?.hostname ?? '',
      User: spec?.process ? `${spec.process.user.uid}:${spec.process.user.gid}` : '',
      Env: spec?.process?.env ?? [],
      Cmd: args,
      WorkingDir: spec?.process?.cwd ?? '/',
      Image: c.imageName,
    },
    NetworkSettings: {
      IPAddress: net?.ip ?? '',
      Gateway: net?.net?.gateway ?? '',
      Ports: ports,
      Networks: networkName ? { [networkName]: { IPAddress: net?.ip ?? '' } } : {},
    },
    // the -v binds: not the /etc files runts wrote into the container's directory
    Mounts: (spec?.mounts ?? []).filter((m) => m.type === 'bind' && !m.source?.startsWith(`${p.dir}/`)).map((m) => ({
      Type: 'bind', Source: m.source ?? '', Destination: m.destination, RW: !(m.options ?? []).includes('ro'),
    })),
    GraphDriver: {
      Name: 'overlay',
      Data: { LowerDir: [...c.layers].reverse().map((l) => images.layerDir(l)).join(':'), UpperDir: p.upper, WorkDir: p.work, MergedDir: p.merged },
    },
    Rootfs: p.merged,
    Bundle: p.dir,
  };
}
