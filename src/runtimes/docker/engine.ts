// The Engine API (podman's `podman system service`, or dockerd) as the docker runtime speaks it:
// where the engine is, what its answers mean, and the calls the lifecycle makes from several
// places. An unreachable engine becomes RuntimeUnavailableError (the reconciler sets
// RuntimeReady=False and retries); an engine that answered "no" keeps its own error.
//
// Transient answers. podman (4.3) answers some calls with `500 read /proc/<pid>/cgroup: no such
// process` when the container's process exits between two of the engine's own steps (inspect
// and stats read the process' cgroup; start reads it right after the process ran). Nothing is
// wrong: asked again a moment later, the engine answers from the exited state. Such an answer
// must be retried by the runtime, never surface as a failure of the record.
import { setTimeout as sleep } from 'node:timers/promises';
import type Dockerode from 'dockerode';
import type { ContainerInfo, ContainerInspectInfo } from 'dockerode';
import { ImageNotPresentError, RECORD_UID_LABEL, RuntimeUnavailableError } from '../container-runtime.ts';
import type { ContainerState } from '../container-runtime.ts';

export const DEFAULT_SOCKET_PATH = '/run/podman/podman.sock';

export interface EngineInfo {
  kind: 'podman' | 'docker';
  version: string;
}

/** One engine: the calls shared by the lifecycle's operations, and what they remember. */
export class Engine {
  readonly docker: Dockerode;
  /** Where the engine is, for messages. */
  readonly endpoint: string;
  #info: Promise<EngineInfo> | undefined;
  readonly #digests = new Map<string, string>();

  constructor(docker: Dockerode, endpoint: string) {
    this.docker = docker;
    this.endpoint = endpoint;
  }

  /** Runs `fn`; an engine that cannot be reached becomes RuntimeUnavailableError. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isConnectionError(err)) {
        throw new RuntimeUnavailableError(`container engine at ${this.endpoint} is unreachable: ${errorText(err)}`, { cause: err });
      }
      throw err;
    }
  }

  /** Which engine and version; asked once, again after a failure or forgetInfo(). */
  info(): Promise<EngineInfo> {
    this.#info ??= (async () => {
      const v = await this.docker.version();
      const podman = v.Components?.find((c) => c.Name === 'Podman Engine');
      return podman ? { kind: 'podman' as const, version: podman.Version } : { kind: 'docker' as const, version: v.Version };
    })();
    const p = this.#info;
    p.catch(() => {
      if (this.#info === p) this.#info = undefined;
    });
    return this.call(() => p);
  }

  /** The engine was unreachable: it may have been replaced, so its version is asked again. */
  forgetInfo(): void {
    this.#info = undefined;
  }

  /** Containers of a record, running first, then newest first. */
  async containersOf(uid: string): Promise<ContainerInfo[]> {
    const all = await retryTransient(() => this.docker.listContainers({ all: true, filters: { label: [`${RECORD_UID_LABEL}=${uid}`] } }));
    return all.sort((a, b) => Number(b.State === 'running') - Number(a.State === 'running') || b.Created - a.Created);
  }

  async volumeNames(labelFilter: string): Promise<string[]> {
    const res = await this.docker.listVolumes({ filters: { label: [labelFilter] } });
    return (res.Volumes ?? []).map((v) => v.Name);
  }

  /** A container's inspect, or undefined when it is gone. */
  async inspect(id: string): Promise<ContainerInspectInfo | undefined> {
    try {
      return await retryTransient(() => this.docker.getContainer(id).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async requireImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
    } catch (err) {
      if (statusOf(err) === 404) throw new ImageNotPresentError(image, this.endpoint);
      throw err;
    }
  }

  async imageDigest(imageId: string): Promise<string | undefined> {
    if (!imageId) return undefined;
    const cached = this.#digests.get(imageId);
    if (cached) return cached;
    let digest: string;
    try {
      const img = await this.docker.getImage(imageId).inspect();
      digest = img.RepoDigests?.[0] ?? (img.Id.startsWith('sha256:') ? img.Id : `sha256:${img.Id}`);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      // The image was deleted after the container was created: the container still says which.
      digest = imageId.startsWith('sha256:') ? imageId : `sha256:${imageId}`;
    }
    this.#digests.set(imageId, digest);
    return digest;
  }

  /** A GET whose body is read as a stream (dockerode buffers non-follow logs whole). */
  dialStream(path: string, options: Record<string, unknown>): Promise<NodeJS.ReadableStream> {
    const modem = (this.docker as unknown as { modem: { dial(opts: object, cb: (err: unknown, data: unknown) => void): void } }).modem;
    return new Promise((resolve, reject) => {
      modem.dial(
        { path, method: 'GET', isStream: true, statusCodes: { 200: true, 404: 'no such container', 500: 'server error' }, options },
        (err, data) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
      );
    });
  }
}

// --- what the engine's answers mean (pure) -------------------------------------------------

export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : DEFAULT_SOCKET_PATH;
}

export function mapState(status: string | undefined): ContainerState {
  switch (status) {
    case 'running':
    case 'paused':
    case 'restarting':
      return 'running';
    case 'created':
    case 'configured':
    case 'initialized':
      return 'created';
    default:
      // exited, stopped, dead, removing
      return 'exited';
  }
}

/** An engine timestamp as ISO-8601, or undefined for podman's and Docker's zero times. */
export function engineTime(value: string | undefined): string | undefined {
  if (!value || value.startsWith('0001-01-01')) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : undefined;
}

export function statusOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTSOCK', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/** Errors that mean "the engine is not there" rather than "the engine said no". */
export function isConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object' || statusOf(err) !== undefined) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isConnectionError(cause);
}

/** A create that lost to an existing name: Docker answers 409, podman 500 "already in use". */
export function isNameConflict(err: unknown): boolean {
  const status = statusOf(err);
  if (status === 409) return true;
  const text = errorText(err);
  return status === 500 && /already in use|already exists/i.test(text);
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** An engine answer that means "asked during a state change", not "no". */
export function isTransientEngineError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  if ((err as { statusCode?: unknown }).statusCode !== 500) return false;
  const message = err instanceof Error ? err.message : '';
  const json = (err as { json?: { message?: unknown } }).json;
  const text = `${message} ${typeof json?.message === 'string' ? json.message : ''}`;
  return /\/proc\/\d+\/[\w.]+: no such process/.test(text);
}

export interface TransientRetry {
  /** Attempts in all (the first included). */
  attempts: number;
  /** Delay before the second attempt; doubled for each further one. */
  firstDelayMs: number;
}

/** Five attempts over ~0.75 s: podman settles the exited state within a few milliseconds. */
export const ENGINE_RETRY: TransientRetry = { attempts: 5, firstDelayMs: 50 };

/**
 * Runs `call` again while the engine answers with a transient error. Only for calls that are
 * safe to repeat (reads, forced removal); a start is checked by its caller instead.
 */
export async function retryTransient<T>(call: () => Promise<T>, retry: TransientRetry = ENGINE_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= retry.attempts || !isTransientEngineError(err)) throw err;
      await sleep(retry.firstDelayMs * 2 ** (attempt - 1));
    }
  }
}
