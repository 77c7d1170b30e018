// The docker runtime: a ContainerExecutionRecord's container on one machine, through the Docker
// Engine API (podman's `podman system service`, or dockerd) with dockerode. This file is the
// lifecycle (ensure, inspect, stop, remove, list, watch); the create request and its hardening
// are in create-options.ts, OOM inference in oom.ts, the engine's calls and answers in engine.ts.
//
// Identity. Everything created carries the record's UID as a label and the container has a
// deterministic name (am-<namespace>-<name>-<uid[0:8]>), so a restarted controller adopts the
// container it started instead of starting another, and two callers racing on ensure() end up
// with one container (the loser's create fails on the name and adopts the winner's).
//
// Not here: the wall-clock deadline (spec.deadlineSeconds) is enforced by the reconciler via
// stop(); images are never pulled (a missing image is ImageNotPresentError).
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import type { ContainerInfo, ContainerInspectInfo } from 'dockerode';
import { silentLogger } from '../../observability/logger.ts';
import type { Logger } from '../../observability/logger.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, OutputMissingError, OutputTooLargeError, RECORD_NAME_LABEL, RECORD_UID_LABEL, RuntimeUnavailableError } from '../container-runtime.ts';
import type { ContainerObservation, ContainerRunSpec, ContainerRuntime } from '../container-runtime.ts';
import { DEFAULT_LOG_MAX_BYTES, OUTPUT_LABEL, OWNER_LABEL, containerCreateOptions, labelValue, outputVolumeName, recordLabels } from './create-options.ts';
import type { CreateContext } from './create-options.ts';
import { Engine, defaultSocketPath, engineTime, errorText, isNameConflict, isTransientEngineError, mapState, retryTransient, statusOf } from './engine.ts';
import { subscribeEngineEvents } from './engine-events.ts';
import type { EngineEvent } from './engine-events.ts';
import { LogTail } from './log-tail.ts';
import { OomInference } from './oom.ts';

/** Events that change what inspect() says (podman names a removal 'remove', Docker 'destroy'). */
const WATCHED_ACTIONS = new Set(['start', 'die', 'died', 'oom', 'destroy', 'remove']);

export interface DockerRuntimeOptions {
  /** Engine API socket. Default: DOCKER_HOST when it is unix://..., else /run/podman/podman.sock. */
  socketPath?: string;
  /** A ready client (wins over socketPath). */
  docker?: Docker;
  logger?: Logger;
  /**
   * Address of the model gateway as seen from a container on gatewayNetwork (added to its
   * /etc/hosts as agent-machine-gateway). Default: the gateway address of that network.
   */
  gatewayHost?: string;
  /**
   * An existing *internal* network (`podman network create --internal NAME`) that every
   * container but 'open' ones joins ('none' included: an airgapped agent reaches the gateway,
   * for local models, and nothing else). Its only route is its
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

export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker' as const;
  readonly socketPath: string | undefined;
  readonly #docker: Docker;
  readonly #engine: Engine;
  readonly #oom: OomInference;
  readonly #log: Logger;
  readonly #opts: DockerRuntimeOptions;
  #gateway: Promise<{ network: string; host: string }> | undefined;
  /** Record UIDs this process stopped: their exit 137 is not an OOM. */
  readonly #stoppedByUs = new Set<string>();
  // Exit notification without the engine's event latency (podman polls its event file: 20 to
  // 250 ms late): an attach stream opened before start ends the moment the process exits.
  readonly #exitListeners = new Set<(recordUid: string) => void>();
  readonly #attached = new Map<string, NodeJS.ReadableStream>();
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
    this.#engine = new Engine(this.#docker, this.endpoint);
    this.#oom = new OomInference(this.#docker, this.#log);
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
      const info = await this.#engine.info();
      return `${info.kind} ${info.version}`;
    } catch (err) {
      this.#engine.forgetInfo();
      if (err instanceof RuntimeUnavailableError) throw err;
      throw new RuntimeUnavailableError(`container engine at ${this.endpoint} did not answer: ${errorText(err)}`, { cause: err });
    }
  }

  ensure(spec: ContainerRunSpec): Promise<ContainerObservation> {
    return this.#serial(spec.recordUid, () =>
      this.#engine.call(async () => {
        const uid = spec.recordUid;
        const existing = await this.#find(uid);
        if (existing) return this.#adopt(existing.Id, uid);
        if (this.#stoppedByUs.has(uid)) {
          throw new Error(`record ${uid} was stopped (cancelled) by this controller: not starting a container for it`);
        }

        await this.#engine.requireImage(spec.image);
        const ctx: CreateContext = {
          engine: (await this.#engine.info()).kind,
          logMaxBytes: this.#opts.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES,
          ...(this.#opts.owner ? { owner: this.#opts.owner } : {}),
        };
        if (this.#opts.gatewayNetwork && spec.network.mode !== 'open') {
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
    return this.#engine.call(async () => {
      const found = await this.#find(recordUid);
      if (!found) return undefined;
      const info = await this.#engine.inspect(found.Id);
      return info ? this.#observe(info, recordUid) : undefined;
    });
  }

  collectOutput(recordUid: string, path: string, maxBytes: number): Promise<Buffer> {
    return this.#engine.call(async () => {
      const found = await this.#find(recordUid);
      if (!found) throw new OutputMissingError(`no container is left for record ${recordUid}: its outputs cannot be read`);
      let stream: NodeJS.ReadableStream;
      try {
        // The engine's archive API reads a stopped container's filesystem, its volumes included.
        stream = await retryTransient(() => this.#docker.getContainer(found.Id).getArchive({ path }));
      } catch (err) {
        if (statusOf(err) === 404) throw new OutputMissingError(`output path ${path} does not exist in the container`);
        throw err;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          (stream as unknown as { destroy?: () => void }).destroy?.();
          throw new OutputTooLargeError(path, maxBytes);
        }
        chunks.push(chunk);
      }
      return Buffer.concat(chunks);
    });
  }

  logTail(recordUid: string, maxBytes: number): Promise<string> {
    return this.#engine.call(async () => {
      const found = await this.#find(recordUid);
      if (!found || maxBytes <= 0) return '';
      const tail = new LogTail(maxBytes);
      const query: Record<string, unknown> = { stdout: true, stderr: true, follow: false };
      // Docker: the last maxBytes lines always cover the last maxBytes bytes (a line has at
      // least one), and LogTail's byte cap bounds what very long lines add. podman 4.3's `tail`
      // mishandles lines its log file stores in parts (k8s-file 'P' records): it drops or
      // reorders them and takes minutes over a long one. So on podman the whole log is read
      // (bounded by the engine-side cap, logMaxBytes: ~0.5 s for 50 MB here) and cut here.
      if ((await this.#engine.info()).kind === 'docker') query.tail = Math.max(1, Math.floor(maxBytes));
      let stream: NodeJS.ReadableStream;
      try {
        stream = await this.#engine.dialStream(`/containers/${found.Id}/logs?`, query);
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
    return this.#engine.call(async () => {
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
      this.#engine.call(async () => {
        const running = (await this.#engine.containersOf(recordUid)).filter((c) => c.State === 'running' || c.State === 'paused' || c.State === 'restarting');
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
      const info = await this.#engine.inspect(id);
      if (!info || mapState(info.State.Status) !== 'running') return false;
      throw err;
    }
  }

  /** Polls inspect (the engine's wait lags the exit by up to ~0.9 s on podman). */
  async #waitExited(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.#engine.inspect(id);
      if (!info || mapState(info.State.Status) !== 'running') return true;
      if (Date.now() >= deadline) return false;
      await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
    }
  }

  remove(recordUid: string): Promise<void> {
    return this.#serial(recordUid, () =>
      this.#engine.call(async () => {
        for (const c of await this.#engine.containersOf(recordUid)) {
          try {
            await retryTransient(() => this.#docker.getContainer(c.Id).remove({ force: true, v: true }));
            this.#log.info({ recordUid, id: c.Id.slice(0, 12) }, 'container removed');
          } catch (err) {
            if (statusOf(err) !== 404) throw err;
          }
          this.#oom.forget(c.Id);
        }
        for (const name of await this.#engine.volumeNames(`${RECORD_UID_LABEL}=${recordUid}`)) {
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
    return this.#engine.call(async () => {
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
    let info = await this.#engine.inspect(id);
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
      info = await this.#engine.inspect(id);
      if (!info) throw new Error(`container ${id.slice(0, 12)} of record ${uid} disappeared after start`);
    }
    return this.#observe(info, uid);
  }

  /** After a transient answer to start: did the container start all the same? */
  async #startedAnyway(id: string): Promise<boolean> {
    const info = await this.#engine.inspect(id);
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
      obs.oomKilled = await this.#oom.oomKilled(info, this.#stoppedByUs.has(uid));
    }
    const digest = await this.#engine.imageDigest(info.Image);
    if (digest) obs.imageDigest = digest;
    return obs;
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

  async #find(uid: string): Promise<ContainerInfo | undefined> {
    return (await this.#engine.containersOf(uid))[0];
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
