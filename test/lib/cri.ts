/*
 * cri.ts - a small client for the Kubernetes Container Runtime Interface
 * (CRI v1: the gRPC services runtime.v1.RuntimeService and
 * runtime.v1.ImageService), the protocol the kubelet speaks to containerd.
 *
 * gRPC transport comes from @grpc/grpc-js; the protobuf messages are encoded
 * and decoded here, by hand, for the few calls the tests make. The field
 * numbers are the wire contract, as k8s.io/cri-api's
 * pkg/apis/runtime/v1/api.proto defines them (each message below names its
 * proto message). Unknown fields in answers are skipped, as protobuf wants.
 */
import * as grpc from '@grpc/grpc-js';

/* ---- protobuf wire format: varints, length-delimited fields ---- */

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

function varint(v: bigint): Buffer {
  // negative int64 values are their 64-bit two's complement: ten bytes
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let byte = Number(u & 0x7fn);
    u >>= 7n;
    if (u) byte |= 0x80;
    out.push(byte);
  } while (u);
  return Buffer.from(out);
}

const tag = (field: number, wire: number) => varint(BigInt((field << 3) | wire));

/* A message under construction: each call appends one field (calling again repeats it). */
export class Writer {
  private parts: Buffer[] = [];

  string(field: number, value: string | undefined): this {
    if (value) this.bytes(field, Buffer.from(value, 'utf8'));
    return this;
  }

  strings(field: number, values: string[] | undefined): this {
    for (const v of values ?? []) this.bytes(field, Buffer.from(v, 'utf8'));
    return this;
  }

  bytes(field: number, value: Buffer): this {
    this.parts.push(tag(field, LEN), varint(BigInt(value.length)), value);
    return this;
  }

  /* int32, int64, uint32, enum: zero is the default and is not sent */
  int(field: number, value: number | bigint | undefined): this {
    if (value) this.parts.push(tag(field, VARINT), varint(BigInt(value)));
    return this;
  }

  bool(field: number, value: boolean | undefined): this {
    if (value) this.parts.push(tag(field, VARINT), varint(1n));
    return this;
  }

  message(field: number, value: Writer | undefined): this {
    if (value) this.bytes(field, value.finish());
    return this;
  }

  /* map<string, string>: a repeated entry message {key = 1; value = 2} */
  map(field: number, value: Record<string, string> | undefined): this {
    for (const [k, v] of Object.entries(value ?? {})) this.message(field, new Writer().string(1, k).string(2, v));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/* A decoded message: every occurrence of each field, raw; typed by the accessor the caller picks. */
export class Reader {
  private fields = new Map<number, (bigint | Buffer)[]>();

  constructor(buf: Buffer) {
    let pos = 0;
    const readVarint = (): bigint => {
      let result = 0n;
      for (let shift = 0n; ; shift += 7n) {
        if (pos >= buf.length) throw new Error('protobuf: truncated varint');
        const b = buf[pos++]!;
        result |= BigInt(b & 0x7f) << shift;
        if (!(b & 0x80)) return result;
      }
    };
    while (pos < buf.length) {
      const key = Number(readVarint());
      const field = key >>> 3;
      let value: bigint | Buffer;
      switch (key & 7) {
        case VARINT: value = readVarint(); break;
        case FIXED64: value = buf.subarray(pos, pos + 8); pos += 8; break;
        case FIXED32: value = buf.subarray(pos, pos + 4); pos += 4; break;
        case LEN: {
          const n = Number(readVarint());
          value = buf.subarray(pos, pos + n);
          pos += n;
          break;
        }
        default: throw new Error(`protobuf: wire type ${key & 7} of field ${field} not supported`);
      }
      if (pos > buf.length) throw new Error('protobuf: truncated field');
      const list = this.fields.get(field) ?? [];
      list.push(value);
      this.fields.set(field, list);
    }
  }

  private last(field: number): bigint | Buffer | undefined {
    return this.fields.get(field)?.at(-1);
  }

  string(field: number): string {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? v.toString('utf8') : '';
  }

  strings(field: number): string[] {
    return (this.fields.get(field) ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));
  }

  bytes(field: number): Buffer {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? v : Buffer.alloc(0);
  }

  /* int64 / int32 (sign from the 64-bit two's complement) */
  int(field: number): number {
    const v = this.last(field);
    return typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : 0;
  }

  bool(field: number): boolean {
    return this.int(field) !== 0;
  }

  message(field: number): Reader | undefined {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? new Reader(v) : undefined;
  }

  messages(field: number): Reader[] {
    return (this.fields.get(field) ?? []).filter(Buffer.isBuffer).map((b) => new Reader(b));
  }

  map(field: number): Record<string, string> {
    return Object.fromEntries(this.messages(field).map((e) => [e.string(1), e.string(2)]));
  }
}

/* ---- the CRI messages the tests use ---- */

export interface PodConfig {
  name: string;
  uid: string;
  namespace: string;
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  cgroupParent?: string;
  /** a sandbox that may hold privileged containers */
  privileged?: boolean;
}

export interface ContainerConfig {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  logPath?: string; // relative to the pod's log directory
  labels?: Record<string, string>;
  memoryLimitBytes?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  runAsUser?: number;
  privileged?: boolean;
  /** RuntimeDefault, Unconfined, or a Localhost profile: the path of a seccomp profile on the node */
  seccomp?: 'RuntimeDefault' | 'Unconfined' | { localhost: string };
  maskedPaths?: string[];
  readonlyPaths?: string[];
  readonlyRootfs?: boolean;
  dropCapabilities?: string[];
  addCapabilities?: string[];
  noNewPrivs?: boolean;
}

export const ContainerState = { CREATED: 0, RUNNING: 1, EXITED: 2, UNKNOWN: 3 } as const;
export const SandboxState = { READY: 0, NOTREADY: 1 } as const;

/* PodSandboxConfig */
function podConfig(p: PodConfig): Writer {
  // PodSandboxMetadata {name = 1; uid = 2; namespace = 3; attempt = 4}
  const metadata = new Writer().string(1, p.name).string(2, p.uid).string(3, p.namespace);
  // LinuxPodSandboxConfig {cgroup_parent = 1; security_context = 2 (LinuxSandboxSecurityContext {privileged = 6})}
  const linux = new Writer().string(1, p.cgroupParent).message(2, p.privileged ? new Writer().bool(6, true) : undefined);
  // {metadata = 1; hostname = 2; log_directory = 3; labels = 6; linux = 8}
  return new Writer().message(1, metadata).string(2, p.hostname).string(3, p.logDirectory).map(6, p.labels).message(8, linux);
}

/* ContainerConfig */
function containerConfig(c: ContainerConfig): Writer {
  // LinuxContainerResources {cpu_period = 1; cpu_quota = 2; memory_limit_in_bytes = 4}
  const resources = new Writer().int(1, c.cpuPeriod).int(2, c.cpuQuota).int(4, c.memoryLimitBytes);
  // Capability {add_capabilities = 1; drop_capabilities = 2}
  const caps = c.addCapabilities || c.dropCapabilities ? new Writer().strings(1, c.addCapabilities).strings(2, c.dropCapabilities) : undefined;
  // LinuxContainerSecurityContext {capabilities = 1; privileged = 2; run_as_user = 5 (Int64Value {value = 1});
  //   readonly_rootfs = 7; no_new_privs = 11; masked_paths = 13; readonly_paths = 14; seccomp = 15}
  // run_as_user 0 must still be sent: its wrapper message says "set"
  const runAsUser = c.runAsUser === undefined ? undefined : new Writer().int(1, c.runAsUser);
  const security = new Writer().message(1, caps).message(5, runAsUser).bool(2, c.privileged).bool(7, c.readonlyRootfs).bool(11, c.noNewPrivs)
    .strings(13, c.maskedPaths).strings(14, c.readonlyPaths).message(15, c.seccomp && securityProfile(c.seccomp));
  // LinuxContainerConfig {resources = 1; security_context = 2}
  const linux = new Writer().message(1, resources).message(2, security);
  const w = new Writer()
    .message(1, new Writer().string(1, c.name)) // ContainerMetadata {name = 1; attempt = 2}
    .message(2, new Writer().string(1, c.image)) // ImageSpec {image = 1}
    .strings(3, c.command)
    .strings(4, c.args);
  // KeyValue {key = 1; value = 2}: envs = 6
  for (const [k, v] of Object.entries(c.env ?? {})) w.message(6, new Writer().string(1, k).string(2, v));
  return w.map(9, c.labels).string(11, c.logPath).message(15, linux);
}

/* SecurityProfile {profile_type = 1 (RuntimeDefault 0, Unconfined 1, Localhost 2); localhost_ref = 2} */
function securityProfile(p: NonNullable<ContainerConfig['seccomp']>): Writer {
  if (p === 'RuntimeDefault') return new Writer(); // every field at its default: present, empty
  return p === 'Unconfined' ? new Writer().int(1, 1) : new Writer().int(1, 2).string(2, p.localhost);
}

export interface Version { version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }

export interface PodStatus {
  id: string;
  state: number;
  ip: string;
  runtimeHandler: string;
  info: Record<string, string>; // verbose: containerd's JSON under "info"
}

export interface ContainerStatus {
  id: string;
  name: string;
  state: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  logPath: string;
  info: Record<string, string>;
}

export interface ExecResult { stdout: string; stderr: string; exitCode: number }

export class CriError extends Error {
  readonly method: string;
  readonly code: number;

  constructor(method: string, code: number, details: string) {
    super(`CRI ${method}: ${grpc.status[code] ?? code}: ${details}`);
    this.method = method;
    this.code = code;
  }
}

/* A connection to one CRI endpoint (a unix socket path). */
export class CriClient {
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(socket: string, timeoutMs = 60_000) {
    this.timeoutMs = timeoutMs;
    this.client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  /* One unary call: service is 'RuntimeService' or 'ImageService'. */
  call(service: string, method: string, request: Writer, timeoutMs = this.timeoutMs): Promise<Reader> {
    const path = `/runtime.v1.${service}/${method}`;
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        path,
        (w: Writer) => w.finish(),
        (b: Buffer) => new Reader(b),
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, answer) => (err ? reject(new CriError(method, err.code, err.details)) : resolve(answer!)),
      );
    });
  }

  private runtime(method: string, request: Writer, timeoutMs?: number): Promise<Reader> {
    return this.call('RuntimeService', method, request, timeoutMs);
  }

  /* VersionRequest {version = 1} -> VersionResponse {version = 1; runtime_name = 2; runtime_version = 3; runtime_api_version = 4} */
  async version(): Promise<Version> {
    const r = await this.runtime('Version', new Writer().string(1, 'v1'), 5_000);
    return { version: r.string(1), runtimeName: r.string(2), runtimeVersion: r.string(3), runtimeApiVersion: r.string(4) };
  }

  /* StatusRequest {verbose = 1} -> StatusResponse {status = 1 (RuntimeStatus {conditions = 1: RuntimeCondition {type = 1; status = 2; reason = 3; message = 4}})} */
  async status(): Promise<{ type: string; status: boolean; reason: string; message: string }[]> {
    const r = await this.runtime('Status', new Writer(), 5_000);
    return (r.message(1)?.messages(1) ?? []).map((c) => ({ type: c.string(1), status: c.bool(2), reason: c.string(3), message: c.string(4) }));
  }

  /* RunPodSandboxRequest {config = 1; runtime_handler = 2} -> {pod_sandbox_id = 1} */
  async runPodSandbox(config: PodConfig, runtimeHandler: string): Promise<string> {
    const r = await this.runtime('RunPodSandbox', new Writer().message(1, podConfig(config)).string(2, runtimeHandler));
    return r.string(1);
  }

  /* PodSandboxStatusRequest {pod_sandbox_id = 1; verbose = 2} -> {status = 1; info = 2} */
  async podSandboxStatus(id: string): Promise<PodStatus> {
    const r = await this.runtime('PodSandboxStatus', new Writer().string(1, id).bool(2, true));
    // PodSandboxStatus {id = 1; state = 3; network = 5 (PodSandboxNetworkStatus {ip = 1}); runtime_handler = 9}
    const s = r.message(1);
    return { id: s?.string(1) ?? '', state: s?.int(3) ?? -1, ip: s?.message(5)?.string(1) ?? '', runtimeHandler: s?.string(9) ?? '', info: r.map(2) };
  }

  /* StopPodSandboxRequest / RemovePodSandboxRequest {pod_sandbox_id = 1} */
  async stopPodSandbox(id: string): Promise<void> {
    await this.runtime('StopPodSandbox', new Writer().string(1, id));
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.runtime('RemovePodSandbox', new Writer().string(1, id));
  }

  /* ListPodSandboxRequest {} -> ListPodSandboxResponse {items = 1 (PodSandbox {id = 1})} */
  async listPodSandboxIds(): Promise<string[]> {
    const r = await this.runtime('ListPodSandbox', new Writer());
    return r.messages(1).map((p) => p.string(1));
  }

  /* CreateContainerRequest {pod_sandbox_id = 1; config = 2; sandbox_config = 3} -> {container_id = 1} */
  async createContainer(podId: string, config: ContainerConfig, pod: PodConfig): Promise<string> {
    const r = await this.runtime('CreateContainer', new Writer().string(1, podId).message(2, containerConfig(config)).message(3, podConfig(pod)));
    return r.string(1);
  }

  /* StartContainerRequest {container_id = 1} */
  async startContainer(id: string): Promise<void> {
    await this.runtime('StartContainer', new Writer().string(1, id));
  }

  /* StopContainerRequest {container_id = 1; timeout = 2 (seconds)} */
  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.runtime('StopContainer', new Writer().string(1, id).int(2, timeoutSeconds));
  }

  /* RemoveContainerRequest {container_id = 1} */
  async removeContainer(id: string): Promise<void> {
    await this.runtime('RemoveContainer', new Writer().string(1, id));
  }

  /* ContainerStatusRequest {container_id = 1; verbose = 2} -> {status = 1; info = 2} */
  async containerStatus(id: string): Promise<ContainerStatus> {
    const r = await this.runtime('ContainerStatus', new Writer().string(1, id).bool(2, true));
    // ContainerStatus {id = 1; metadata = 2; state = 3; started_at = 5; finished_at = 6; exit_code = 7; reason = 10; message = 11; log_path = 15}
    const s = r.message(1) ?? new Reader(Buffer.alloc(0));
    return {
      id: s.string(1), name: s.message(2)?.string(1) ?? '', state: s.int(3), startedAt: s.int(5), finishedAt: s.int(6),
      exitCode: s.int(7), reason: s.string(10), message: s.string(11), logPath: s.string(15), info: r.map(2),
    };
  }

  /* ExecSyncRequest {container_id = 1; cmd = 2; timeout = 3 (seconds)} -> {stdout = 1; stderr = 2; exit_code = 3} */
  async execSync(id: string, cmd: string[], timeoutSeconds = 30): Promise<ExecResult> {
    const r = await this.runtime('ExecSync', new Writer().string(1, id).strings(2, cmd).int(3, timeoutSeconds), (timeoutSeconds + 30) * 1000);
    return { stdout: r.bytes(1).toString('utf8'), stderr: r.bytes(2).toString('utf8'), exitCode: r.int(3) };
  }

  /*
   * Exec through the streaming server, as `kubectl exec` reaches it:
   * ExecRequest {container_id = 1; cmd = 2; tty = 3; stdin = 4; stdout = 5; stderr = 6} -> ExecResponse {url = 1},
   * then that URL over a WebSocket (streamExec).
   */
  async exec(id: string, cmd: string[], opts: { tty?: boolean; stdin?: string } = {}): Promise<ExecResult> {
    const r = await this.runtime('Exec', new Writer().string(1, id).strings(2, cmd).bool(3, opts.tty).bool(4, opts.stdin !== undefined).bool(5, true).bool(6, !opts.tty));
    return streamExec(r.string(1), opts.stdin);
  }

  /*
   * One TCP exchange with a pod's port through the streaming server, as
   * `kubectl port-forward` reaches it: PortForwardRequest {pod_sandbox_id = 1;
   * port = 2} -> PortForwardResponse {url = 1}, then that URL over a WebSocket
   * (forwardOnce).
   */
  async portForward(podId: string, port: number, send: string): Promise<string> {
    const r = await this.runtime('PortForward', new Writer().string(1, podId).int(2, port));
    return forwardOnce(r.string(1), port, send);
  }

  /* ImageStatusRequest {image = 1 (ImageSpec {image = 1})} -> ImageStatusResponse {image = 1 (Image {id = 1; repo_tags = 2})} */
  async imageStatus(image: string): Promise<{ id: string; repoTags: string[] } | undefined> {
    const r = await this.call('ImageService', 'ImageStatus', new Writer().message(1, new Writer().string(1, image)));
    const img = r.message(1);
    return img ? { id: img.string(1), repoTags: img.strings(2) } : undefined;
  }
}

/*
 * The remote command protocol v4.channel.k8s.io over a WebSocket: each
 * binary frame starts with its channel (0 stdin, 1 stdout, 2 stderr,
 * 3 the final status, a JSON metav1.Status); the server closes the socket
 * when the command has exited.
 */
function streamExec(url: string, stdin: string | undefined): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
    ws.binaryType = 'arraybuffer';
    const out: Record<number, Buffer[]> = { 1: [], 2: [], 3: [] };
    ws.onopen = () => {
      if (stdin !== undefined) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(stdin)]));
    };
    ws.onmessage = (e) => {
      const frame = Buffer.from(e.data as ArrayBuffer);
      if (frame.length > 1) out[frame[0]!]?.push(frame.subarray(1));
    };
    ws.onerror = () => reject(new Error(`exec stream ${url}: WebSocket error`));
    ws.onclose = () => {
      const text = (ch: number) => Buffer.concat(out[ch]!).toString('utf8');
      // {"status":"Success"} or {"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}
      const status = JSON.parse(text(3) || '{}') as { status?: string; details?: { causes?: { reason?: string; message?: string }[] } };
      const code = status.status === 'Success' ? 0 : Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message ?? -1);
      resolve({ stdout: text(1), stderr: text(2), exitCode: code });
    };
  });
}

/*
 * Port forwarding over a WebSocket (v4.channel.k8s.io, the port in the query):
 * for each port a data channel (0) and an error channel (1), each opened by
 * the server with the port number (2 bytes, little endian). Sends send on the
 * data channel and collects what comes back until the pod's end closes the
 * connection (the server then closes the socket).
 */
function forwardOnce(url: string, port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?port=${port}`, ['v4.channel.k8s.io']);
    ws.binaryType = 'arraybuffer';
    const data: Buffer[] = [];
    const errors: Buffer[] = [];
    const opened = new Set<number>();
    ws.onmessage = (e) => {
      const frame = Buffer.from(e.data as ArrayBuffer);
      const channel = frame[0]!;
      let payload = frame.subarray(1);
      if (!opened.has(channel)) { // the port number that opens the channel
        opened.add(channel);
        payload = payload.subarray(2);
        if (opened.size === 2) ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(send)]));
      }
      (channel === 0 ? data : errors).push(payload);
    };
    ws.onerror = () => reject(new Error(`port-forward ${url}: WebSocket error`));
    ws.onclose = () => {
      const error = Buffer.concat(errors).toString('utf8');
      if (error) reject(new Error(`port-forward ${url}: ${error}`));
      else resolve(Buffer.concat(data).toString('utf8'));
    };
  });
}
