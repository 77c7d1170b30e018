// Reading a declared output out of a Pod: `tar c` run by exec in the Pod's collector container
// (pod.ts collectorFor), its stdout streamed to the controller over the API server's exec
// WebSocket (pods/exec), counted as it arrives and cut off past the byte budget: the tar is
// never truncated silently, it is refused whole (OutputTooLargeError).
//
// Why exec, and not the collector pushing to the registry itself or serving HTTP: either would
// need the registry's credentials or an open port in the agent's Pod (whose NetworkPolicy
// denies ingress). With exec the Pod holds nothing; the controller needs `pods/exec`, and the
// bytes pass through the API server and the kubelet's streaming server like `kubectl cp`.
// pods/log would carry them too, but as text lines the kubelet may rotate or cut.
import { Writable } from 'node:stream';
import type { V1ContainerStatus, V1Pod, V1Status } from '@kubernetes/client-node';
import { OutputTooLargeError } from '../container-runtime.ts';
import { COLLECTOR_NAME, CONTAINER_NAME } from './pod.ts';

/** Whether an output of a Pod can be read now, and if not, why (pure: unit-tested). */
export type Collectable = { ok: true } | { ok: false; gone: boolean; message: string };

export function collectable(pod: V1Pod, path: string): Collectable {
  const pod_ = `Pod ${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const collector = pod.spec?.containers?.find((c) => c.name === COLLECTOR_NAME);
  const clean = path.replace(/\/+$/, '');
  if (!collector || !(collector.volumeMounts ?? []).some((m) => m.mountPath.replace(/\/+$/, '') === clean)) {
    return { ok: false, gone: true, message: `${pod_} has no collector for output path ${path} (created without it): the output cannot be read` };
  }
  if (pod.metadata?.deletionTimestamp) return { ok: false, gone: true, message: `${pod_} is being deleted: its outputs went with it` };
  const status = (name: string): V1ContainerStatus | undefined => (pod.status?.containerStatuses ?? []).find((s) => s.name === name);
  if (!status(CONTAINER_NAME)?.state?.terminated) {
    return { ok: false, gone: false, message: `${pod_}: the agent container has not ended; outputs are read only after it does` };
  }
  const c = status(COLLECTOR_NAME);
  if (!c?.state?.running) {
    const why = c?.state?.terminated?.reason ?? c?.state?.waiting?.reason ?? pod.status?.reason ?? 'not running';
    return {
      ok: false,
      gone: true,
      message: `${pod_}: its collector is not running (${why}); the kubelet ends every container of a Pod stopped by its deadline or by a cancel, and the outputs' volumes live only as long as a container can read them`,
    };
  }
  return { ok: true };
}

/** The exit code a finished exec reports on its status channel (undefined: no code, an error). */
export function execExitCode(status: V1Status | undefined): number | undefined {
  if (!status) return undefined;
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = cause?.message !== undefined ? Number(cause.message) : Number.NaN;
  return Number.isInteger(code) ? code : undefined;
}

/** Opens the exec (client-node's Exec.exec with these streams); resolves with its WebSocket. */
export type OpenExec = (stdout: Writable, stderr: Writable, onStatus: (s: V1Status) => void) => Promise<ExecSocket>;

/** What is used of the `ws` WebSocket. */
export interface ExecSocket {
  close(): void;
  readonly readyState: number;
  on(event: 'close', cb: () => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
}

export interface ExecResult {
  stdout: Buffer;
  exitCode: number | undefined;
  /** The first bytes of stderr (for a message). */
  stderr: string;
  statusMessage?: string;
}

const STDERR_KEPT = 1024;
const CLOSED = 3;

/**
 * Runs the exec and gathers stdout up to maxBytes: one byte more and the socket is closed and
 * OutputTooLargeError thrown (`path` names the output in it). Times out after timeoutMs.
 */
export async function readExec(open: OpenExec, path: string, maxBytes: number, timeoutMs: number): Promise<ExecResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  let stderr = '';
  let status: V1Status | undefined;
  let socket: ExecSocket | undefined;
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (over) return cb();
      size += chunk.length;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        socket?.close();
      } else chunks.push(chunk);
      cb();
    },
  });
  const errs = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (stderr.length < STDERR_KEPT) stderr += chunk.toString('utf8').slice(0, STDERR_KEPT - stderr.length);
      cb();
    },
  });
  socket = await open(stdout, errs, (s) => {
    status = s;
  });
  const ws = socket;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`reading output ${path}: no end after ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    ws.on('close', done);
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`reading output ${path}: ${err.message}`));
    });
    if (ws.readyState === CLOSED) done();
  });
  if (over) throw new OutputTooLargeError(path, maxBytes);
  if (!status) throw new Error(`reading output ${path}: the exec stream closed without an exit status (connection lost?)`);
  return { stdout: Buffer.concat(chunks), exitCode: execExitCode(status), stderr, ...(status.message ? { statusMessage: status.message } : {}) };
}
