/*
 * console.ts - the receiving end of --console-socket. The runtime connects to
 * a unix socket and sends the pty master as SCM_RIGHTS, which Node cannot
 * receive; python3's socket.recv_fds can. The receiver reads everything the
 * container writes to its terminal until the last slave fd closes (EIO).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { waitFor } from './host.ts';

const RECEIVER = String.raw`
import json, os, select, socket, sys, time
path, timeout = sys.argv[1], float(sys.argv[2])
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(timeout)
res = {}
try:
    conn, _ = srv.accept()
    msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
    conn.close()
    res = {"message": msg.decode(errors="replace"), "fdCount": len(fds)}
    if fds:
        master = fds[0]
        res["target"] = os.readlink("/proc/self/fd/%d" % master)
        out, deadline = b"", time.time() + timeout
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.time()))
            if not ready:
                res["timedOut"] = True
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break  # EIO: every slave fd is closed, the container is done
            if not chunk:
                break
            out += chunk
        res["output"] = out.decode(errors="replace")
except socket.timeout:
    res = {"error": "no connection on the console socket"}
print(json.dumps(res), flush=True)
`;

export interface ConsoleCapture {
  message?: string; // the data sent along with the fd (runc sends the pty name)
  fdCount?: number;
  target?: string; // readlink of the received fd, e.g. "/dev/pts/ptmx"
  output?: string; // everything read from the master, \r\n as the tty wrote it
  timedOut?: boolean;
  error?: string;
}

export interface ConsoleReceiver {
  socketPath: string;
  /* resolves once the container's terminal closed (or the timeout hit) */
  done: Promise<ConsoleCapture>;
  kill(): void;
}

export async function listenConsole(socketPath: string, timeoutSec = 20): Promise<ConsoleReceiver> {
  const child = spawn('python3', ['-c', RECEIVER, socketPath, String(timeoutSec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ConsoleCapture>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as ConsoleCapture);
      } catch {
        reject(new Error(`console receiver failed (exit ${code}): ${stderr || stdout}`));
      }
    });
  });
  done.catch(() => {}); // observed by the caller; avoid an unhandled rejection if it never is
  await waitFor(() => existsSync(socketPath) || child.exitCode !== null, `console socket ${socketPath}`);
  return { socketPath, done, kill: () => child.kill('SIGKILL') };
}
