/**
 * Start runts-init, hand it a plan, and follow its messages until the
 * container is created (and, for foreground `run`, until it exits).
 *
 * The message sequence is drawn in native/protocol.h; the frames and the
 * typed decoders of runts-init's replies are in protocol/messages.ts.
 *
 * The book: docs/09-writing-runtime.md, "The plan and the C stage".
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';
import type { Socket } from 'node:net';
import { errnoText, RuntsError } from '../errors.ts';
import { decodeFrames, decodeReply, encodeFrame, type Frame, type Reply } from '../protocol/messages.ts';
import { MSG, RUNTS_PROTOCOL_VERSION } from '../protocol/protocol.ts';
import type { Step } from '../protocol/steps.ts';

export function executorPath(): string {
  if (process.env.RUNTS_INIT) return process.env.RUNTS_INIT;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'runts-init'), join(here, '../../dist/runts-init')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new RuntsError('EINTERNAL', `runts-init not found (looked in ${candidates.join(', ')}): run npm run build`);
  return found;
}

/** The socket to runts-init, as frames out and decoded replies in. */
class Channel {
  private buf: Buffer = Buffer.alloc(0);
  private queue: Reply[] = [];
  private waiters: ((m: Reply | null) => void)[] = [];
  private ended = false;
  readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      const { frames, rest } = decodeFrames(Buffer.concat([this.buf, d]));
      this.buf = rest;
      for (const f of frames) this.deliver(f);
    });
    const end = () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(null);
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  private deliver(f: Frame) {
    const m = decodeReply(f);
    const w = this.waiters.shift();
    if (w) w(m);
    else this.queue.push(m);
  }

  /** The next message, or null once the other side has closed. */
  next(): Promise<Reply | null> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.ended) return Promise.resolve(null);
    return new Promise((r) => this.waiters.push(r));
  }

  send(type: number, payload?: Buffer) {
    this.socket.write(encodeFrame(type, payload));
  }

  close() {
    this.socket.destroy();
  }
}

export interface LaunchHandlers {
  /** INIT exists (its pid in our namespace); nothing is set up yet. */
  onPid(pid: number): void;
  /** INIT paused for the createRuntime hooks; return the state JSON for the in-container hooks. */
  onHooks(): Promise<string>;
  /**
   * Where `--debug` lines about the stages go. They use runc's words for
   * the same stages (nsexec, init(), the pipe that signals completion), so
   * whoever reads runc's debug log finds them here too.
   */
  debug?(msg: string): void;
}

export interface Launched {
  pid: number;
  /** runts-init's PARENT: INIT's parent, and its supervisor when the plan keeps one. */
  supervisorPid: number;
  /** Foreground only: resolves with INIT's wait status. */
  exitStatus(): Promise<number>;
  /**
   * Close the channel and reap PARENT (it exits after handing INIT over),
   * or, when it stays on as a detached supervisor (STEP_EXIT_FILE without
   * STEP_SUPERVISE), let it go: whoever reaps orphans reaps it after INIT.
   */
  release(): Promise<void>;
}

/**
 * Run the plan up to "created". On any failure, throws; the caller cleans up
 * (the pid, if one was reported, has been killed by then).
 */
export async function launch(plan: Step[], encoded: Buffer, opts: { preserveFds: number }, handlers: LaunchHandlers): Promise<Launched> {
  const extra = Array.from({ length: opts.preserveFds }, (_, i) => 3 + i);
  const syncFd = 3 + opts.preserveFds;
  // Loaded here, not at the top: node:child_process drags in much of Node's
  // stream stack, a cost that state, list, kill and delete need not pay.
  const { spawn } = await import('node:child_process');
  const child = spawn(executorPath(), [], {
    stdio: [0, 1, 2, ...extra, 'pipe'],
    env: { RUNTS_SYNC_FD: String(syncFd) },
  });
  // Reaped by us, not left as a zombie for whatever adopts it after we exit.
  const parentExited = new Promise<void>((r) => child.once('close', () => r()));
  const spawnError = new Promise<never>((_, reject) => child.once('error', (e) => reject(new RuntsError('EINTERNAL', `start runts-init: ${e.message}`, { cause: e }))));
  spawnError.catch(() => {});
  const channel = new Channel(child.stdio[syncFd] as Socket);
  const outlivesUs = plan.some((s) => s.op === 'STEP_EXIT_FILE') && !plan.some((s) => s.op === 'STEP_SUPERVISE');
  let pid = 0;
  try {
    const hello = await Promise.race([channel.next(), spawnError]);
    if (hello?.kind !== 'hello') throw new RuntsError('EINTERNAL', 'runts-init did not greet: is it built for this runts? run npm run build');
    if (hello.version !== RUNTS_PROTOCOL_VERSION) {
      throw new RuntsError('EINTERNAL', `runts-init speaks protocol ${hello.version}, runts speaks ${RUNTS_PROTOCOL_VERSION}: rebuild with npm run build`);
    }
    channel.send(MSG.MSG_PLAN, encoded);
    handlers.debug?.(`nsexec container setup: runts-init ${child.pid ?? 0} runs a plan of ${plan.length} steps`);
    for (;;) {
      const m = await channel.next();
      if (!m) throw new RuntsError('EEXEC', 'container init exited before it was created');
      switch (m.kind) {
        case 'pid':
          pid = m.pid;
          handlers.debug?.(`child process in init(): pid ${pid}, setting up the container`);
          handlers.onPid(pid);
          break;
        case 'hooks':
          try {
            channel.send(MSG.MSG_HOOKS_DONE, Buffer.from(await handlers.onHooks()));
          } catch (err) {
            channel.send(MSG.MSG_ABORT);
            throw err;
          }
          break;
        case 'error':
          throw stepError(plan, m);
        case 'created':
          // a create waits for start on the fifo; an exec (it joins a container) runs at once
          handlers.debug?.(plan.some((st) => st.op === 'STEP_WAIT_START')
            ? 'init: closing the pipe to signal completion: set up, waiting for start'
            : 'setns_init: about to exec: set up in the container\'s namespaces');
          return {
            pid,
            supervisorPid: child.pid ?? 0,
            exitStatus: async () => {
              const status = await waitExit(channel);
              await parentExited;
              return status;
            },
            release: async () => {
              channel.close();
              if (outlivesUs) child.unref();
              else await parentExited;
            },
          };
        case 'exit': // a supervised INIT died during setup: OOM, a signal
          throw new RuntsError('EEXEC', `container init ${describeWaitStatus(m.status)} before it was created`);
        default:
          throw new RuntsError('EINTERNAL', `runts-init sent unexpected message ${m.kind === 'unknown' ? m.type : m.kind}`);
      }
    }
  } catch (err) {
    channel.close();
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    throw err;
  }
}

async function waitExit(channel: Channel): Promise<number> {
  for (;;) {
    const m = await channel.next();
    if (!m) throw new RuntsError('EINTERNAL', 'lost the container supervisor before the container exited');
    if (m.kind === 'exit') {
      channel.close();
      return m.status;
    }
  }
}

/** A wait(2) status in words: "was killed by SIGKILL", "exited with status 1". */
export function describeWaitStatus(status: number): string {
  const signal = status & 0x7f;
  if (!signal) return `exited with status ${(status >> 8) & 0xff}`;
  const name = Object.entries(constants.signals).find(([, n]) => n === signal)?.[0];
  return `was killed by ${name ?? `signal ${signal}`}`;
}

function stepError(plan: Step[], { step: index, errno, what }: Extract<Reply, { kind: 'error' }>): RuntsError {
  const reason = errno ? errnoText(errno) : '';
  const step = plan[index];
  const message = (step?.where ? `${step.where}: ` : '') + (reason ? `${what}: ${reason}` : what);
  const code = step?.op === 'STEP_PREPARE_EXEC' || step?.op === 'STEP_EXEC' ? 'EEXEC' : 'ESYSTEM';
  return new RuntsError(code, message, { errno, path: step?.where ?? (step ? `plan step ${index + 1}` : undefined) });
}
