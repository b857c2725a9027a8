/*
 * pidfd.ts - the receiving end of --pidfd-socket: the runtime connects and
 * sends a pidfd with SCM_RIGHTS, which Node cannot receive; python3's
 * socket.recv_fds can. The receiver reports what came (the message, what
 * the descriptor is, the pid the kernel says it refers to) as one JSON
 * line, then, when its stdin closes, signals the process through the pidfd
 * (pidfd_send_signal: never a later process with the same number).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { waitFor } from './host.ts';

const RECEIVER = String.raw`
import json, os, signal, socket, sys
path, sig = sys.argv[1], int(sys.argv[2])
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(30)
conn, _ = srv.accept()
msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
fd = fds[0]
info = dict(l.split(':', 1) for l in open('/proc/self/fdinfo/%d' % fd).read().splitlines() if ':' in l)
print(json.dumps({"message": msg.decode(), "fdCount": len(fds), "target": os.readlink('/proc/self/fd/%d' % fd), "pid": int(info['Pid'])}), flush=True)
sys.stdin.read()
signal.pidfd_send_signal(fd, sig)
print(json.dumps({"signalled": sig}), flush=True)
`;

export interface PidfdReceived { message: string; fdCount: number; target: string; pid: number }

export interface PidfdReceiver {
  socketPath: string;
  /** What arrived with the descriptor. */
  received: Promise<PidfdReceived>;
  /** Signal the process through the pidfd; resolves once it is sent. */
  signal(): Promise<void>;
  kill(): void;
}

export async function listenPidfd(socketPath: string, signal: number): Promise<PidfdReceiver> {
  const child = spawn('python3', ['-c', RECEIVER, socketPath, String(signal)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<unknown> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`pidfd receiver ended (exit ${child.exitCode}): ${stderr}`);
    return JSON.parse(value as string);
  };
  const received = next() as Promise<PidfdReceived>;
  received.catch(() => {}); // observed by the caller
  await waitFor(() => existsSync(socketPath) || child.exitCode !== null, `pidfd socket ${socketPath}`);
  return {
    socketPath,
    received,
    signal: async () => {
      await received;
      child.stdin.end();
      await next();
    },
    kill: () => child.kill('SIGKILL'),
  };
}
