// One interface over where a ContainerExecutionRecord's container runs: the Docker Engine API
// (podman or dockerd) on one machine, or a Pod in a cluster. Reconcilers speak only this.
//
// Every operation is keyed by the record's UID, which the runtime stores on what it creates
// (a label), so a restarted controller finds — adopts — what it started instead of starting
// it again, and can tell which containers no record owns any more (orphans).

/** Limits come from the budget (and container spec); nothing else may widen them. */
export interface ContainerLimits {
  /** sandboxMemoryBytes: hard memory limit, no swap. */
  memoryBytes: number;
  /** CPU quota in millicores (1000 = one core). */
  cpuMillis: number;
  pidsLimit: number;
  /** localDiskBytes: size of the writable scratch tmpfs at /tmp. */
  scratchBytes: number;
}

/** How a profile's network mode is realised by a runtime. */
export type NetworkMode = 'none' | 'gateway-only' | 'allowlist' | 'open';

export interface ContainerRunSpec {
  /** UID of the ContainerExecutionRecord: the identity of everything the runtime creates. */
  recordUid: string;
  /** Namespace/name of the record, for names and labels humans read. */
  recordNamespace: string;
  recordName: string;
  image: string;
  command?: string[];
  args?: string[];
  /** Resolved environment (may hold secret values: never log or put in status). */
  env: Record<string, string>;
  workingDir?: string;
  limits: ContainerLimits;
  network: { mode: NetworkMode; proxy?: string; egressAllowlist?: string[] };
  /** Host folder mounted read-only. */
  workspace?: { hostPath: string; mountPath: string };
  /** Declared output paths: the only writable mounts besides scratch. */
  outputs: Array<{ name: string; path: string }>;
  /** Wall-clock limit; the reconciler enforces it too, the runtime may add its own guard. */
  deadlineSeconds?: number;
}

export type ContainerState = 'created' | 'running' | 'exited';

export interface ContainerObservation {
  /** Runtime id (container id, or Pod UID). */
  id: string;
  state: ContainerState;
  exitCode?: number;
  /** Killed for exceeding its memory limit (podman does not say: inferred from exit 137 + limit). */
  oomKilled?: boolean;
  startedAt?: string;
  finishedAt?: string;
  imageDigest?: string;
  /**
   * Created but not running: why, as the runtime says it (a Pod's SchedulingGated,
   * Unschedulable, ImagePullBackOff...). The record reports Pending with it, not Running.
   */
  waiting?: { reason: string; message: string };
}

/** The runtime could not be reached: the reconciler sets RuntimeReady=False and retries. */
export class RuntimeUnavailableError extends Error {
  override readonly name = 'RuntimeUnavailableError';
}

/**
 * The image is not on the runtime, and runtimes never pull: the reconciler leaves the record
 * Pending (ImageNotPresent) until someone loads the image.
 */
export class ImageNotPresentError extends Error {
  override readonly name = 'ImageNotPresentError';
  readonly image: string;
  constructor(image: string, where: string) {
    super(
      `image ${image} is not present on the container engine at ${where}; agent-machine does not pull images: ` +
        'load or pull it on the engine first (e.g. `podman pull`, `podman load`, `podman import`)',
    );
    this.image = image;
  }
}

export interface ContainerRuntime {
  readonly kind: 'docker' | 'kubernetes';
  /** Resolves with a version string; throws RuntimeUnavailableError when unreachable. */
  ping(): Promise<string>;
  /**
   * Makes the container exist and run (create + start), or adopts the one already there for
   * this record. Idempotent: calling it again never starts a second container. Throws
   * ImageNotPresentError when the image is missing (a runtime that never pulls).
   */
  ensure(spec: ContainerRunSpec): Promise<ContainerObservation>;
  /** The container of a record, or undefined when there is none. */
  inspect(recordUid: string): Promise<ContainerObservation | undefined>;
  /** The last bytes of combined stdout/stderr, as text (unredacted: the caller redacts). */
  logTail(recordUid: string, maxBytes: number): Promise<string>;
  /**
   * A tar archive of `path` inside the record's (stopped) container: a declared output (docker:
   * the engine's archive API; kubernetes: tar by exec in the Pod's collector container). Throws
   * OutputTooLargeError past maxBytes (never a truncated archive), OutputMissingError when the
   * output cannot be read any more. Optional: a runtime without it reports OutputsNotCollected.
   */
  collectOutput?(recordUid: string, path: string, maxBytes: number): Promise<Buffer>;
  /** CPU time used so far, in seconds (undefined when the runtime cannot tell). */
  cpuSeconds(recordUid: string): Promise<number | undefined>;
  /** Stops the container (SIGTERM, then SIGKILL after graceSeconds). No-op when gone. */
  stop(recordUid: string, graceSeconds: number): Promise<void>;
  /** Removes the container and what the runtime created for it. No-op when gone. */
  remove(recordUid: string): Promise<void>;
  /**
   * Record UIDs of every container this runtime manages (for orphan cleanup); with `namespace`,
   * only those of records in it: a controller that watches one namespace must not take the
   * containers of other namespaces' records for orphans.
   */
  listRecordUids(namespace?: string): Promise<string[]>;
  /**
   * Calls onChange(recordUid) when a managed container starts, dies or disappears, so
   * completion is seen at once rather than by polling. Returns an unsubscribe function. The
   * stream reconnects by itself when the runtime comes back.
   */
  watch(onChange: (recordUid: string) => void): () => void;
}

/** An output bigger than the disk budget it was written under: refused, not truncated. */
export class OutputTooLargeError extends Error {
  constructor(path: string, maxBytes: number) {
    super(`output ${path} is larger than ${maxBytes} bytes (localDiskBytes): refused, not truncated`);
    this.name = 'OutputTooLargeError';
  }
}

/** The container has no such output path (or no container is left to read it from). */
export class OutputMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputMissingError';
  }
}

export const RECORD_UID_LABEL = 'agentmachine.sourceos.dev/record-uid';
export const RECORD_NAME_LABEL = 'agentmachine.sourceos.dev/record';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'agent-machine';
