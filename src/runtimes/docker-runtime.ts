// The docker runtime: a ContainerExecutionRecord's container on one machine, through the Docker
// Engine API (podman's `podman system service`, or dockerd) with dockerode.
//
// Identity. Everything created carries the record's UID as a label and the container has a
// deterministic name (am-<namespace>-<name>-<uid[0:8]>), so a restarted controller adopts the
// container it started instead of starting another, and two callers racing on ensure() end up
// with one container (the loser's create fails on the name and adopts the winner's).
//
// Hardening (every container, nothing in the spec can turn it off): user 65532:65532 (the
// sandbox image's user; always, even when the image names another user, so a root image cannot
// run as root), all capabilities dropped, no-new-privileges, read-only root filesystem, no
// privileged mode, no host network/PID/IPC namespaces, memory limit with no swap, CPU quota,
// pids limit, no restart policy, a bounded engine log. Writable: the scratch tmpfs at /tmp
// (limits.scratchBytes), small tmpfs at /run and /var/tmp, /dev/shm (bounded), and one named
// volume per declared output. All tmpfs pages are charged to the container's memory cgroup, so
// limits.memoryBytes bounds them together. The workspace is a read-only bind mount.
//
// Outputs are named volumes (am-out-<uid>-<index>, labelled like the container) rather than
// host folders: they live on the engine (which may not share a filesystem with the controller),
// podman chowns a fresh volume to the container user on first mount, they survive the
// container's exit for artifact export (GET /containers/{id}/archive works on an exited
// container), and remove() deletes them with the container.
//
// Network. 'none' → no interface but lo. 'open' → the engine's default network (podman as root:
// the 'podman' bridge, 10.88.0.0/16, NAT to the outside). 'gateway-only' and 'allowlist' →
// no direct egress: NetworkMode 'none', unless a gatewayNetwork is configured (an *internal*
// network: no route off its subnet, so the container reaches only the host's address on that
// bridge, where the model gateway listens; see DockerRuntimeOptions.gatewayNetwork). An
// allowlist is not enforced by this runtime: it needs an egress proxy (spec.network.proxy,
// passed to the container as HTTP(S)_PROXY) reachable the same way.
//
// OOM. podman never sets State.OOMKilled (cgroup v1 here; no 'oom' event, and the memcg
// counters are gone with the container's cgroup), so an exit code 137 of a container with a
// memory limit counts as OOM-killed unless the controller killed it: remembered in memory when
// this process called stop(), and otherwise (after a controller restart) looked up in the
// engine's event log, where every API kill leaves a 'kill' event (stop() sends SIGTERM and
// SIGKILL as kills for that reason: podman logs its 'stop' event only sometimes). A podman
// event log lives under /run: after a host reboot a cancelled container's 137 would read as
// OOM, so a reconciler that cancelled an execution should trust its own record over oomKilled.
//
// Not here: the wall-clock deadline (spec.deadlineSeconds) is enforced by the reconciler via
// stop(); images are never pulled (a missing image is ImageNotPresentError).
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import type { ContainerCreateOptions, ContainerInfo, ContainerInspectInfo, HostConfig, MountSettings } from 'dockerode';
import { silentLogger } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';
import {
  ImageNotPresentError,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  RECORD_NAME_LABEL,
  RECORD_UID_LABEL,
  RuntimeUnavailableError,
} from './container-runtime.ts';
import type { ContainerObservation, ContainerRunSpec, ContainerRuntime, ContainerState } from './container-runtime.ts';
import { JsonLines, subscribeEngineEvents } from './docker/engine-events.ts';
import type { EngineEvent } from './docker/engine-events.ts';
import { LogTail } from './docker/log-tail.ts';
import { isTransientEngineError, retryTransient } from './transient-engine-error.ts';

/** The user every container runs as (the sandbox image's non-root user). */
export const SANDBOX_USER = '65532:65532';
const SANDBOX_UID = 65532;
/** Label on output volumes: the declared output's name. */
export const OUTPUT_LABEL = 'agentmachine.sourceos.dev/output';
export const OWNER_LABEL = 'agentmachine.sourceos.dev/cluster-uid';
/** Host name a gateway-network container resolves to the gateway address. */
export const GATEWAY_HOSTNAME = 'agent-machine-gateway';
export const DEFAULT_SOCKET_PATH = '/run/podman/podman.sock';
/** Engine-side log cap per container (json-file / k8s-file max-size). */
export const DEFAULT_LOG_MAX_BYTES = 8 * 1024 * 1024;

const MiB = 1024 * 1024;
/** Any HostConfig.Ulimits replaces the engine defaults, so nofile and nproc are always both set
 * (nproc counts per host uid, not per container: PidsLimit is the real per-container cap). */
const ULIMITS = [
  { Name: 'nofile', Soft: 1024, Hard: 1024 },
  { Name: 'nproc', Soft: 32768, Hard: 32768 },
];
/** Events that change what inspect() says (podman names a removal 'remove', Docker 'destroy'). */
const WATCHED_ACTIONS = new Set(['start', 'die', 'died', 'oom', 'destroy', 'remove']);

export interface DockerRuntimeOptions {
  /** Engine API socket. Default: DOCKER_HOST when it is unix://..., else /run/podman/podman.sock. */
  socketPath?: string;
  /** A ready client (wins over socketPath). */
  docker?: Dockerode;
  logger?: Logger;
  /**
   * Address of the model gateway as seen from a container on gatewayNetwork (added to its
   * /etc/hosts as agent-machine-gateway). Default: the gateway address of that network.
   */
  gatewayHost?: string;
  /**
   * Prototype: an existing *internal* network (`podman network create --internal NAME`) that
   * 'gateway-only' and 'allowlist' containers join instead of 'none'. Its only route is its
   * own subnet, so the one outside address a container reaches is the host's address on that
   * bridge (gatewayHost), where the gateway should listen. Note: every port the host serves on
   * that address (or on 0.0.0.0) is reachable, and containers on the same network reach each
   * other; a host firewall rule or one network per execution would close that.
   */
  gatewayNetwork?: string;
  /** Bytes of output the engine keeps per container (older output is dropped). */
  logMaxBytes?: number;
  /**
   * Which control plane's records these containers belong to (the controller passes the UID of
   * the cluster's kube-system namespace). Containers and volumes carry it as a label, and only
   * containers with this owner are listed for orphan removal: two clusters (a dev environment
   * and a test run, two kind clusters) sharing one podman would otherwise each remove the
   * other's containers as orphans.
   */
  owner?: string;
}

type Dockerode = Docker;

interface EngineInfo {
  kind: 'podman' | 'docker';
  version: string;
}

/** What ensure() needs to know about the engine and its configuration to build a container. */
export interface CreateContext {
  engine: 'podman' | 'docker';
  logMaxBytes: number;
  owner?: string;
  gateway?: { network: string; host: string };
}

export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker' as const;
  readonly socketPath: string | undefined;
  readonly #docker: Dockerode;
  readonly #log: Logger;
  readonly #opts: DockerRuntimeOptions;
  #engine: Promise<EngineInfo> | undefined;
  #gateway: Promise<{ network: string; host: string }> | undefined;
  /** Record UIDs this process stopped: their exit 137 is not an OOM. */
  readonly #stoppedByUs = new Set<string>();
  // Exit notification without the engine's event latency (podman polls its event file: 20 to
  // 250 ms late): an attach stream opened before start ends the moment the process exits.
  readonly #exitListeners = new Set<(recordUid: string) => void>();
  readonly #attached = new Map<string, NodeJS.ReadableStream>();
  /** OOM verdict per exited container id (an exited container's state no longer changes). */
  readonly #oomVerdicts = new Map<string, boolean>();
  readonly #digests = new Map<string, string>();
  /** Per-record queue: operations on one record run one at a time in this process. */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(opts: DockerRuntimeOptions = {}) {
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger();
    if (opts.docker) {
      this.#docker = opts.docker;
      const modem = (opts.docker as unknown as { modem?: { socketPath?: unknown } }).modem;
      this.socketPath = typeof modem?.socketPath === 'string' ? modem.socketPath : opts.socketPath;
    } else {
      this.socketPath = opts.socketPath ?? defaultSocketPath();
      this.#docker = new Docker({ socketPath: this.socketPath });
    }
  }

  /** Where the engine is, for messages. */
  get endpoint(): string {
    return this.socketPath ? `unix://${this.socketPath}` : 'the configured Docker host';
  }

  async ping(): Promise<string> {
    try {
      // Always a round trip, but the cheap one: podman answers /version in ~350 ms (it gathers
      // host information), /_ping in ~1 ms, and reconcilers ping on every pass. The version is
      // read again only after the engine was unreachable (it may have been replaced).
      await this.#docker.ping();
      const info = await this.#engineInfo();
      return `${info.kind} ${info.version}`;
    } catch (err) {
      this.#engine = undefined;
      if (err instanceof RuntimeUnavailableError) throw err;
      throw new RuntimeUnavailableError(`container engine at ${this.endpoint} did not answer: ${errorText(err)}`, { cause: err });
    }
  }

  ensure(spec: ContainerRunSpec): Promise<ContainerObservation> {
    return this.#serial(spec.recordUid, () =>
      this.#mapped(async () => {
        const uid = spec.recordUid;
        const existing = await this.#find(uid);
        if (existing) return this.#adopt(existing.Id, uid);
        if (this.#stoppedByUs.has(uid)) {
          throw new Error(`record ${uid} was stopped (cancelled) by this controller: not starting a container for it`);
        }

        await this.#requireImage(spec.image);
        const ctx: CreateContext = {
          engine: (await this.#engineInfo()).kind,
          logMaxBytes: this.#opts.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
          ...(this.#opts.owner ? { owner: this.#opts.owner } : {}),
        };
        if (this.#opts.gatewayNetwork && (spec.network.mode === 'gateway-only' || spec.network.mode === 'allowlist')) {
          ctx.gateway = await this.#gatewayNetwork();
        }
        await this.#ensureOutputVolumes(spec);
        const options = containerCreateOptions(spec, ctx);
        let id: string;
        try {
          id = (await this.#docker.createContainer(options)).id;
          this.#log.info({ recordUid: uid, container: options.name, id: id.slice(0, 12), image: spec.image, network: options.HostConfig?.NetworkMode }, 'container created');
        } catch (err) {
          if (!isNameConflict(err)) throw err;
          // Another caller (another controller process, or one that crashed after create)
          // got there first: adopt its container if it is this record's.
          const info = await retryTransient(() => this.#docker.getContainer(options.name!).inspect());
          if (info.Config.Labels?.[RECORD_UID_LABEL] !== uid) {
            throw new Error(`container name ${options.name} is taken by a container that record ${uid} does not own (${info.Id.slice(0, 12)})`);
          }
          id = info.Id;
          this.#log.info({ recordUid: uid, container: options.name, id: id.slice(0, 12) }, 'container created concurrently; adopting it');
        }
        return this.#adopt(id, uid);
      }),
    );
  }

  inspect(recordUid: string): Promise<ContainerObservation | undefined> {
    return this.#mapped(async () => {
      const found = await this.#find(recordUid);
      if (!found) return undefined;
      const info = await this.#inspectById(found.Id);
      return info ? this.#observe(info, recordUid) : undefined;
    });
  }

  logTail(recordUid: string, maxBytes: number): Promise<string> {
    return this.#mapped(async () => {
      const found = await this.#find(recordUid);
      if (!found || maxBytes <= 0) return '';
      const tail = new LogTail(maxBytes);
      const query: Record<string, unknown> = { stdout: true, stderr: true, follow: false };
      // Docker: the last maxBytes lines always cover the last maxBytes bytes (a line has at
      // least one), and LogTail's byte cap bounds what very long lines add. podman 4.3's `tail`
      // mishandles lines its log file stores in parts (k8s-file 'P' records): it drops or
      // reorders them and takes minutes over a long one. So on podman the whole log is read
      // (bounded by the engine-side cap, logMaxBytes: ~0.5 s for 50 MB here) and cut here.
      if ((await this.#engineInfo()).kind === 'docker') query.tail = Math.max(1, Math.floor(maxBytes));
      let stream: NodeJS.ReadableStream;
      try {
        stream = await this.#dialStream(`/containers/${found.Id}/logs?`, query);
      } catch (err) {
        if (statusOf(err) === 404) return '';
        throw err;
      }
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (chunk: Buffer) => tail.push(chunk));
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
      });
      return tail.text();
    });
  }

  cpuSeconds(recordUid: string): Promise<number | undefined> {
    return this.#mapped(async () => {
      const found = await this.#find(recordUid);
      // The engine has no CPU figure for a container that is not running (podman answers an
      // empty body, Docker zeros): undefined rather than a wrong 0.
      if (!found || found.State !== 'running') return undefined;
      let stats: unknown;
      try {
        stats = await retryTransient(() => this.#docker.getContainer(found.Id).stats({ stream: false, 'one-shot': true } as { stream: false }));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
      const ns = (stats as { cpu_stats?: { cpu_usage?: { total_usage?: unknown } } } | undefined)?.cpu_stats?.cpu_usage?.total_usage;
      return typeof ns === 'number' && ns > 0 ? ns / 1e9 : undefined;
    });
  }

  stop(recordUid: string, graceSeconds: number): Promise<void> {
    this.#stoppedByUs.add(recordUid);
    // Serialised with ensure(): a stop that overtook an ensure in flight would find nothing
    // to stop and the container would start anyway.
    return this.#serial(recordUid, () =>
      this.#mapped(async () => {
        const running = (await this.#list(recordUid)).filter((c) => c.State === 'running' || c.State === 'paused' || c.State === 'restarting');
        await Promise.all(running.map((c) => this.#stopContainer(recordUid, c.Id, graceSeconds)));
      }),
    );
  }

  /**
   * SIGTERM, then SIGKILL after the grace period, then wait (briefly) for the exit. Done with
   * two API kills rather than POST /stop because podman records a 'kill' event for every API
   * kill but its 'stop' event only sometimes: the event log is how a restarted controller tells
   * its own kill from an OOM kill.
   */
  async #stopContainer(recordUid: string, id: string, graceSeconds: number): Promise<void> {
    const started = Date.now();
    if (!(await this.#kill(id, 'SIGTERM'))) return;
    const graceMs = Math.max(0, graceSeconds) * 1000;
    let exited = await this.#waitExited(id, graceMs);
    if (!exited) {
      if (!(await this.#kill(id, 'SIGKILL'))) return;
      exited = await this.#waitExited(id, 10_000);
    }
    this.#log.info({ recordUid, id: id.slice(0, 12), graceSeconds, ms: Date.now() - started, exited }, 'container stopped');
  }

  /** False when the container is gone or not running (nothing to signal). */
  async #kill(id: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    try {
      await this.#docker.getContainer(id).kill({ signal });
      return true;
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 || status === 304) return false;
      // 409 (Docker) / 500 (podman): "is not running"
      const info = await this.#inspectById(id);
      if (!info || mapState(info.State.Status) !== 'running') return false;
      throw err;
    }
  }

  /** Polls inspect (the engine's wait lags the exit by up to ~0.9 s on podman). */
  async #waitExited(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.#inspectById(id);
      if (!info || mapState(info.State.Status) !== 'running') return true;
      if (Date.now() >= deadline) return false;
      await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
    }
  }

  remove(recordUid: string): Promise<void> {
    return this.#serial(recordUid, () =>
      this.#mapped(async () => {
        for (const c of await this.#list(recordUid)) {
          try {
            await retryTransient(() => this.#docker.getContainer(c.Id).remove({ force: true, v: true }));
            this.#log.info({ recordUid, id: c.Id.slice(0, 12) }, 'container removed');
          } catch (err) {
            if (statusOf(err) !== 404) throw err;
          }
          this.#oomVerdicts.delete(c.Id);
        }
        for (const name of await this.#volumeNames(`${RECORD_UID_LABEL}=${recordUid}`)) {
          try {
            await this.#docker.getVolume(name).remove();
          } catch (err) {
            if (statusOf(err) !== 404) throw err;
          }
        }
        this.#stoppedByUs.delete(recordUid);
      }),
    );
  }

  listRecordUids(namespace?: string): Promise<string[]> {
    return this.#mapped(async () => {
      const uids = new Set<string>();
      const mine = [`${MANAGED_BY_LABEL}=${MANAGED_BY}`, ...(this.#opts.owner ? [`${OWNER_LABEL}=${labelValue(this.#opts.owner)}`] : [])];
      const containers = await this.#docker.listContainers({ all: true, filters: { label: mine } });
      // Checked here too: podman 4.3 ORs several label filters on volumes (and some engines may
      // on containers).
      const owned = (labels: Record<string, string> | undefined) =>
        (!this.#opts.owner || labels?.[OWNER_LABEL] === labelValue(this.#opts.owner)) && (!namespace || (labels?.[RECORD_NAME_LABEL] ?? '').startsWith(`${namespace}.`));
      for (const c of containers) {
        const uid = c.Labels?.[RECORD_UID_LABEL];
        if (uid && owned(c.Labels)) uids.add(uid);
      }
      // Output volumes whose container is gone (a remove() interrupted half-way) still belong
      // to a record: listing them lets orphan cleanup finish the job.
      const volumes = await this.#docker.listVolumes({ filters: { label: mine } });
      for (const v of volumes.Volumes ?? []) {
        const uid = v.Labels?.[RECORD_UID_LABEL];
        if (uid && owned(v.Labels)) uids.add(uid);
      }
      return [...uids].sort();
    });
  }

  watch(onChange: (recordUid: string) => void): () => void {
    this.#exitListeners.add(onChange);
    const unsubscribe = subscribeEngineEvents({
      docker: this.#docker,
      // Only a label filter on the engine side: podman matches `event` filters against its own
      // names ('died', 'remove'), Docker against 'die', 'destroy'. Actions are picked below.
      filters: { type: ['container'], label: [`${MANAGED_BY_LABEL}=${MANAGED_BY}`] },
      logger: this.#log,
      onEvent: (event: EngineEvent) => {
        const action = (event.Action ?? event.status ?? '').split(':')[0]!;
        if (!WATCHED_ACTIONS.has(action)) return;
        const uid = event.Actor?.Attributes?.[RECORD_UID_LABEL];
        if (uid) onChange(uid);
      },
    });
    return () => {
      this.#exitListeners.delete(onChange);
      unsubscribe();
    };
  }

  // --- internals -------------------------------------------------------------------------

  async #adopt(id: string, uid: string): Promise<ContainerObservation> {
    let info = await this.#inspectById(id);
    if (!info) throw new Error(`container ${id.slice(0, 12)} of record ${uid} disappeared while being adopted`);
    if (mapState(info.State.Status) !== 'exited') await this.#watchExit(id, uid);
    // A record this process stopped (cancelled) is never started afterwards.
    if (mapState(info.State.Status) === 'created' && !this.#stoppedByUs.has(uid)) {
      try {
        await this.#docker.getContainer(id).start();
        this.#log.info({ recordUid: uid, id: id.slice(0, 12) }, 'container started');
      } catch (err) {
        // 304: someone else started it. A transient answer may come after the process ran
        // (and even exited): the container is then no longer 'created', and starting it
        // again would run the agent twice.
        if (statusOf(err) !== 304 && !(isTransientEngineError(err) && (await this.#startedAnyway(id)))) throw err;
      }
      info = await this.#inspectById(id);
      if (!info) throw new Error(`container ${id.slice(0, 12)} of record ${uid} disappeared after start`);
    }
    return this.#observe(info, uid);
  }

  /** After a transient answer to start: did the container start all the same? */
  async #startedAnyway(id: string): Promise<boolean> {
    const info = await this.#inspectById(id);
    return info !== undefined && mapState(info.State.Status) !== 'created';
  }

  /**
   * Attaches to the container's output and tells the watchers when the stream ends, which is
   * when the process exits (or the engine goes away: either way the record must be looked at).
   * The output itself is discarded here (the engine's log keeps it) but must be read, or a
   * chatty agent would block on a full pipe. One connection per running container.
   */
  async #watchExit(id: string, uid: string): Promise<void> {
    if (this.#exitListeners.size === 0 || this.#attached.has(uid)) return;
    try {
      const stream = (await this.#docker.getContainer(id).attach({ stream: true, stdout: true, stderr: true, logs: false })) as NodeJS.ReadableStream;
      this.#attached.set(uid, stream);
      const ended = (): void => {
        if (this.#attached.get(uid) !== stream) return;
        this.#attached.delete(uid);
        for (const listener of this.#exitListeners) listener(uid);
      };
      stream.on('end', ended);
      stream.on('close', ended);
      stream.on('error', ended);
      stream.resume();
    } catch (err) {
      // Not fatal: the engine's die event still reports the exit, only later.
      this.#log.debug({ recordUid: uid, err: errorText(err) }, 'attach for exit notification failed');
    }
  }

  async #observe(info: ContainerInspectInfo, uid: string): Promise<ContainerObservation> {
    const state = mapState(info.State.Status);
    const obs: ContainerObservation = { id: info.Id, state };
    const startedAt = engineTime(info.State.StartedAt);
    if (startedAt) obs.startedAt = startedAt;
    if (state === 'exited') {
      obs.exitCode = info.State.ExitCode;
      let finishedAt = engineTime(info.State.FinishedAt);
      // podman's FinishedAt has coarse precision and can read a little before StartedAt.
      if (finishedAt && startedAt && finishedAt < startedAt) finishedAt = startedAt;
      if (finishedAt) obs.finishedAt = finishedAt;
      obs.oomKilled = await this.#oomKilled(info, uid);
    }
    const digest = await this.#imageDigest(info.Image);
    if (digest) obs.imageDigest = digest;
    return obs;
  }

  async #oomKilled(info: ContainerInspectInfo, uid: string): Promise<boolean> {
    if (info.State.OOMKilled) return true;
    if (info.State.ExitCode !== 137 || !((info.HostConfig.Memory ?? 0) > 0)) return false;
    if (this.#stoppedByUs.has(uid)) return false;
    const cached = this.#oomVerdicts.get(info.Id);
    if (cached !== undefined) return cached;
    const verdict = !(await this.#stopOrKillRecorded(info));
    this.#oomVerdicts.set(info.Id, verdict);
    return verdict;
  }

  /**
   * Whether the engine's event log holds an API stop or kill of this container (a controller
   * that stopped it and then restarted has no memory of it). Replays the container's events
   * from its creation and stops reading at its 'die'. (podman answers nothing at all when
   * `until` is in the past and waits for it when in the future, so no `until`.)
   */
  async #stopOrKillRecorded(info: ContainerInspectInfo, timeoutMs = 3_000): Promise<boolean> {
    const created = Date.parse(info.Created);
    const since = Number.isFinite(created) ? Math.floor(created / 1000) - 1 : 0;
    const stream = (await this.#docker.getEvents({ since, filters: { type: ['container'], container: [info.Id] } })) as NodeJS.ReadableStream & {
      destroy(): void;
    };
    const lines = new JsonLines();
    return await new Promise<boolean>((resolve) => {
      let done = false;
      let afterDie: NodeJS.Timeout | undefined;
      const finish = (found: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(afterDie);
        stream.destroy();
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.#log.warn({ id: info.Id.slice(0, 12) }, 'engine event log did not reach the container exit in time; treating exit 137 as OOM');
        finish(false);
      }, timeoutMs);
      stream.on('data', (chunk: Buffer) =>
        lines.push(chunk, (value) => {
          const e = value as EngineEvent;
          const action = (e.Action ?? e.status ?? '').split(':')[0];
          if (action === 'stop' || action === 'kill') finish(true);
          // A kill is logged before the die it causes; the short wait only covers a writer
          // that logged out of order.
          else if (action === 'die' || action === 'died' || action === 'destroy' || action === 'remove') afterDie ??= setTimeout(() => finish(false), 150);
        }),
      );
      stream.on('end', () => finish(false));
      stream.on('error', () => finish(false));
    });
  }

  async #imageDigest(imageId: string): Promise<string | undefined> {
    if (!imageId) return undefined;
    const cached = this.#digests.get(imageId);
    if (cached) return cached;
    let digest: string;
    try {
      const img = await this.#docker.getImage(imageId).inspect();
      digest = img.RepoDigests?.[0] ?? (img.Id.startsWith('sha256:') ? img.Id : `sha256:${img.Id}`);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      // The image was deleted after the container was created: the container still says which.
      digest = imageId.startsWith('sha256:') ? imageId : `sha256:${imageId}`;
    }
    this.#digests.set(imageId, digest);
    return digest;
  }

  async #requireImage(image: string): Promise<void> {
    try {
      await this.#docker.getImage(image).inspect();
    } catch (err) {
      if (statusOf(err) === 404) throw new ImageNotPresentError(image, this.endpoint);
      throw err;
    }
  }

  async #ensureOutputVolumes(spec: ContainerRunSpec): Promise<void> {
    for (const [index, out] of spec.outputs.entries()) {
      const name = outputVolumeName(spec.recordUid, index);
      try {
        await this.#docker.createVolume({
          Name: name,
          Labels: { ...recordLabels(spec, this.#opts.owner), [OUTPUT_LABEL]: labelValue(out.name) },
        });
      } catch (err) {
        // Docker and podman's compat API return an existing volume; some versions refuse.
        if (!isNameConflict(err)) throw err;
      }
      // An existing volume of that name is only reused when it is this record's.
      const existing = await this.#docker.getVolume(name).inspect();
      if (existing.Labels?.[RECORD_UID_LABEL] !== spec.recordUid) {
        throw new Error(`volume ${name} exists but does not belong to record ${spec.recordUid}`);
      }
    }
  }

  #gatewayNetwork(): Promise<{ network: string; host: string }> {
    const network = this.#opts.gatewayNetwork!;
    this.#gateway ??= (async () => {
      if (this.#opts.gatewayHost) return { network, host: this.#opts.gatewayHost };
      const info = (await this.#docker.getNetwork(network).inspect()) as { IPAM?: { Config?: Array<{ Gateway?: string }> }; Internal?: boolean };
      const host = info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
      if (!host) throw new Error(`network ${network} has no gateway address; pass gatewayHost`);
      if (info.Internal !== true) this.#log.warn({ network }, 'gateway network is not internal: containers on it have direct egress');
      return { network, host };
    })();
    this.#gateway.catch(() => (this.#gateway = undefined));
    return this.#gateway;
  }

  #engineInfo(): Promise<EngineInfo> {
    this.#engine ??= (async () => {
      const v = await this.#docker.version();
      const podman = v.Components?.find((c) => c.Name === 'Podman Engine');
      return podman ? { kind: 'podman' as const, version: podman.Version } : { kind: 'docker' as const, version: v.Version };
    })();
    const p = this.#engine;
    p.catch(() => {
      if (this.#engine === p) this.#engine = undefined;
    });
    return this.#mapped(() => p);
  }

  /** Containers of a record, running first, then newest first. */
  async #list(uid: string): Promise<ContainerInfo[]> {
    const all = await retryTransient(() => this.#docker.listContainers({ all: true, filters: { label: [`${RECORD_UID_LABEL}=${uid}`] } }));
    return all.sort((a, b) => Number(b.State === 'running') - Number(a.State === 'running') || b.Created - a.Created);
  }

  async #volumeNames(labelFilter: string): Promise<string[]> {
    const res = await this.#docker.listVolumes({ filters: { label: [labelFilter] } });
    return (res.Volumes ?? []).map((v) => v.Name);
  }

  async #find(uid: string): Promise<ContainerInfo | undefined> {
    return (await this.#list(uid))[0];
  }

  async #inspectById(id: string): Promise<ContainerInspectInfo | undefined> {
    try {
      return await retryTransient(() => this.#docker.getContainer(id).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** A GET whose body is read as a stream (dockerode buffers non-follow logs whole). */
  #dialStream(path: string, options: Record<string, unknown>): Promise<NodeJS.ReadableStream> {
    const modem = (this.#docker as unknown as { modem: { dial(opts: object, cb: (err: unknown, data: unknown) => void): void } }).modem;
    return new Promise((resolve, reject) => {
      modem.dial(
        { path, method: 'GET', isStream: true, statusCodes: { 200: true, 404: 'no such container', 500: 'server error' }, options },
        (err, data) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
      );
    });
  }

  async #mapped<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isConnectionError(err)) {
        throw new RuntimeUnavailableError(`container engine at ${this.endpoint} is unreachable: ${errorText(err)}`, { cause: err });
      }
      throw err;
    }
  }

  #serial<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(uid) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#locks.set(uid, settled);
    void settled.then(() => {
      if (this.#locks.get(uid) === settled) this.#locks.delete(uid);
    });
    return run;
  }
}

// --- pure helpers (exported for unit tests) ------------------------------------------------

export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : DEFAULT_SOCKET_PATH;
}

/** One part of a container name: Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
function namePart(s: string, max: number): string {
  const cleaned = s
    .replace(/[^a-zA-Z0-9_.-]+/g, '-')
    .slice(0, max)
    .replace(/^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$/g, '');
  return cleaned || 'x';
}

/** am-<namespace>-<name>-<uid[0:8]>, sanitised, at most 3+40+1+60+1+8 = 113 characters. */
export function containerNameFor(spec: Pick<ContainerRunSpec, 'recordNamespace' | 'recordName' | 'recordUid'>): string {
  return `am-${namePart(spec.recordNamespace, 40)}-${namePart(spec.recordName, 60)}-${namePart(spec.recordUid.slice(0, 8), 8)}`;
}

export function outputVolumeName(recordUid: string, index: number): string {
  return `am-out-${namePart(recordUid, 64)}-${index}`;
}

/** Label values: Docker takes any string; keep them printable and bounded. */
function labelValue(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, 253);
}

export function recordLabels(spec: Pick<ContainerRunSpec, 'recordNamespace' | 'recordName' | 'recordUid'>, owner?: string): Record<string, string> {
  return {
    [RECORD_UID_LABEL]: spec.recordUid,
    [RECORD_NAME_LABEL]: labelValue(`${spec.recordNamespace}.${spec.recordName}`),
    [MANAGED_BY_LABEL]: MANAGED_BY,
    ...(owner ? { [OWNER_LABEL]: labelValue(owner) } : {}),
  };
}

function positiveInt(what: string, n: number): number {
  if (!Number.isFinite(n) || n <= 0) throw new Error(`limits.${what} must be a positive number, got ${n}`);
  return Math.floor(n);
}

/** The full create request for a record's container: the hardening lives here. */
export function containerCreateOptions(spec: ContainerRunSpec, ctx: CreateContext): ContainerCreateOptions {
  const memory = positiveInt('memoryBytes', spec.limits.memoryBytes);
  const cpuMillis = positiveInt('cpuMillis', spec.limits.cpuMillis);
  const pids = positiveInt('pidsLimit', spec.limits.pidsLimit);
  const scratch = positiveInt('scratchBytes', spec.limits.scratchBytes);

  // runc gives a tmpfs the mode of the directory it covers, so an image whose /tmp is not
  // 1777 would leave /tmp unwritable; owning it by the sandbox user fixes that. podman spells
  // the ownership 'U' (and rejects uid=), Docker passes uid=/gid= to mount(2).
  const owner = ctx.engine === 'podman' ? 'U' : `uid=${SANDBOX_UID},gid=${SANDBOX_UID}`;
  const mounts: MountSettings[] = [];
  if (spec.workspace) {
    mounts.push({ Type: 'bind', Source: spec.workspace.hostPath, Target: spec.workspace.mountPath, ReadOnly: true });
  }
  spec.outputs.forEach((out, index) => {
    mounts.push({ Type: 'volume', Source: outputVolumeName(spec.recordUid, index), Target: out.path, ReadOnly: false });
  });

  let networkMode: string;
  const extraHosts: string[] = [];
  switch (spec.network.mode) {
    case 'none':
      networkMode = 'none';
      break;
    case 'open':
      // The engine's default network ('bridge' means that to both podman and Docker).
      networkMode = 'bridge';
      break;
    case 'gateway-only':
    case 'allowlist':
      if (ctx.gateway) {
        networkMode = ctx.gateway.network;
        extraHosts.push(`${GATEWAY_HOSTNAME}:${ctx.gateway.host}`);
      } else {
        networkMode = 'none';
      }
      break;
    default: {
      const never: never = spec.network.mode;
      throw new Error(`unknown network mode ${String(never)}`);
    }
  }

  const env = { ...spec.env };
  if (spec.network.proxy) {
    for (const key of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) env[key] ??= spec.network.proxy;
    for (const key of ['NO_PROXY', 'no_proxy']) env[key] ??= 'localhost,127.0.0.1';
  }

  const hostConfig: HostConfig = {
    Memory: memory,
    MemorySwap: memory,
    NanoCpus: cpuMillis * 1_000_000,
    PidsLimit: pids,
    ReadonlyRootfs: true,
    Privileged: false,
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    // A tiny init (catatonit/tini) as PID 1 forwards SIGTERM to the agent: as PID 1 itself the
    // agent would ignore it, and every cancel would wait for the SIGKILL.
    Init: true,
    Tmpfs: {
      '/tmp': `rw,nosuid,nodev,size=${scratch},mode=1777,${owner}`,
      '/run': 'rw,nosuid,nodev,noexec,size=1048576,mode=755',
      '/var/tmp': 'rw,nosuid,nodev,noexec,size=1048576,mode=1777',
    },
    ShmSize: Math.min(scratch, 64 * MiB),
    Ulimits: ULIMITS.map((u) => ({ ...u })),
    NetworkMode: networkMode,
    Mounts: mounts,
    RestartPolicy: { Name: 'no' },
    LogConfig: { Type: '', Config: { 'max-size': String(Math.max(64 * 1024, Math.floor(ctx.logMaxBytes))) } },
  };
  if (extraHosts.length) hostConfig.ExtraHosts = extraHosts;

  const options: ContainerCreateOptions = {
    name: containerNameFor(spec),
    Image: spec.image,
    User: SANDBOX_USER,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: recordLabels(spec, ctx.owner),
    HostConfig: hostConfig,
    // Never a TTY: logs stay framed (stdout/stderr apart) and nothing waits on a terminal.
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
  };
  if (spec.command?.length) options.Entrypoint = spec.command;
  if (spec.args) options.Cmd = spec.args;
  if (spec.workingDir) options.WorkingDir = spec.workingDir;
  return options;
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

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
