/*
 * cgroup-file.ts - the cgroup file of a process on the host, by its v1
 * controller and file or its v2 file, through whichever layout the machine
 * has (chapter 5: docs/05-cgroups.md).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CGROUP_V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');

/* A cgroup file of a container process, by v1 controller/file or v2 file. */
export function cgroupFile(pid: number, v1: [controller: string, file: string], v2: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
  if (CGROUP_V2) return join('/sys/fs/cgroup', lines.find((l) => l[0] === '0')![2]!, v2);
  const line = lines.find((l) => l[1]!.split(',').includes(v1[0]));
  assert.ok(line, `no ${v1[0]} cgroup for pid ${pid}`);
  return join(controllerMount(v1[0]), line[2]!, v1[1]);
}

function controllerMount(controller: string): string {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.startsWith('cgroup ') && post.split(' ')[2]!.split(',').includes(controller)) return pre!.split(' ')[4]!;
  }
  throw new Error(`the ${controller} controller is not mounted`);
}
