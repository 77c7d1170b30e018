// The kubernetes runtime: a ContainerExecutionRecord becomes a Pod in the record's namespace,
// with a NetworkPolicy for its network mode and a Secret for its environment, both owned by
// the Pod. Built from pure pieces: pod.ts (Pod, env Secret, status → observation),
// network-policy.ts (mode → policy), log-tail.ts (pods/log tail).
//
// Order of creation (ensure):
//   1. the Pod, with a scheduling gate: it exists (so it has a UID to own things) but no
//      scheduler places it and no kubelet runs it;
//   2. the NetworkPolicy, then the env Secret, each created with an ownerReference to the Pod;
//   3. the gate is removed; only now can the container start.
// So the container never runs before its NetworkPolicy exists (no open-network window), never
// starts before its Secret exists (no CreateContainerConfigError and kubelet retry backoff),
// and neither dependant ever exists unowned (a crash at any point leaves nothing the garbage
// collector would not clean up). A crash between steps leaves a gated Pod; the next ensure()
// adopts it and finishes the steps. The alternatives are worse: Secret first with the
// ownerReference patched in later leaves an unowned Secret on a crash; Pod first without a
// gate lets the kubelet start the container before its policy and Secret exist.
//
// Identity: every object carries RECORD_UID_LABEL; names are deterministic (podNameFor). An
// object of that name labelled for another record is never adopted (ensure throws).
//
// What Pods cannot do that the interface assumes (see also pod.ts):
//   - pids limit: not a Pod field (node-level podPidsLimit);
//   - cpuSeconds: undefined (no metrics API is assumed);
//   - stop(): a Pod that a kubelet has (spec.nodeName set) is stopped IN PLACE by lowering
//     spec.activeDeadlineSeconds to 1: the kubelet kills the container and marks the Pod
//     Failed/DeadlineExceeded, and the Pod, its final status and its log stay readable until
//     remove(). The grace period is then the Pod's terminationGracePeriodSeconds, fixed at
//     creation (option terminationGracePeriodSeconds, default 10), not stop()'s argument.
//     A Pod no node has yet is deleted instead (with graceSeconds, at least 1: 0 would be a
//     force delete that does not wait for the kubelet). An exited Pod is left as it is;
//   - logTail(): needs a kubelet; any error gives '' (the log is best effort);
//   - collectOutput(): a Pod with outputs has a collector container (pod.ts collectorFor);
//     once the agent container has ended, each output is read as a tar by exec into it
//     (output-exec.ts). A Pod stopped by its deadline or a cancel (activeDeadlineSeconds) has
//     had every container killed, the collector too: its outputs are reported gone
//     (OutputMissingError), not waited for;
//   - remove(): deletes the Pod and the env Secret; the NetworkPolicy is deleted only once the
//     Pod is gone, so a container still in its grace period keeps its policy. Until then the
//     garbage collector (ownerReference) or a later remove() deletes it.
import type { KubernetesObject, V1NetworkPolicy, V1Pod, V1Secret } from '@kubernetes/client-node';
import { Exec, PatchStrategy } from '@kubernetes/client-node';
import { Informer } from '../../operator/informer.ts';
import { describeError, isConflict, isNotFound, statusCodeOf } from '../../operator/kube-clients.ts';
import type { KubeClients, RequestOptions } from '../../operator/kube-clients.ts';
import { PODS, SECRETS, defineResource } from '../../operator/resource.ts';
import type { ResourceType } from '../../operator/resource.ts';
import { silentLogger } from '../../observability/logger.ts';
import type { Logger } from '../../observability/logger.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, OutputMissingError, RECORD_UID_LABEL, RuntimeUnavailableError } from '../container-runtime.ts';
import type { ContainerObservation, ContainerRunSpec, ContainerRuntime } from '../container-runtime.ts';
import { tailLog } from './log-tail.ts';
import { networkPolicyFor } from './network-policy.ts';
import { collectable, readExec } from './output-exec.ts';
import type { ExecSocket } from './output-exec.ts';
import type { DnsEndpoint, GatewayEndpoint } from './network-policy.ts';
import {
  COLLECTOR_NAME,
  CONTAINER_NAME,
  collectCommand,
  SETUP_GATE,
  envSecretFor,
  envSecretNameFor,
  isGated,
  observationFromPod,
  ownerReferenceTo,
  podFor,
} from './pod.ts';

export const NETWORK_POLICIES = defineResource({
  group: 'networking.k8s.io',
  version: 'v1',
  plural: 'networkpolicies',
  kind: 'NetworkPolicy',
  namespaced: true,
});

/** Pods this runtime manages: ours, and carrying a record UID. */
export const MANAGED_POD_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY},${RECORD_UID_LABEL}`;

export interface KubernetesRuntimeOptions {
  clients: KubeClients;
  logger?: Logger;
  /** RuntimeClass of every Pod (e.g. gvisor, kata); absent: the cluster's default runtime. */
  runtimeClassName?: string;
  /** Where the agent-machine gateway runs, for gateway-only and allowlist egress. */
  gateway?: GatewayEndpoint;
  /** Cluster DNS for egress rules (default kube-system, port 53); false: no DNS egress. */
  dns?: DnsEndpoint | false;
  /** The Pods' terminationGracePeriodSeconds, which an in-place stop() uses (default 10). */
  terminationGracePeriodSeconds?: number;
  /** Timeout of each API request (default 30 s). */
  requestTimeoutMs?: number;
  /** Image of the collector container of Pods with outputs (default pod.ts DEFAULT_COLLECTOR_IMAGE). */
  collectorImage?: string;
  /** How long reading one output may take (default 10 min). */
  collectTimeoutMs?: number;
}

interface Location {
  namespace: string;
  name: string;
}

interface RawList<T> {
  metadata?: { continue?: string };
  items: T[];
}

const DEFAULT_GRACE_SECONDS = 10;
const WRITE_ATTEMPTS = 5;

export class KubernetesRuntime implements ContainerRuntime {
  readonly kind = 'kubernetes' as const;
  readonly #clients: KubeClients;
  readonly #log: Logger;
  readonly #runtimeClassName: string | undefined;
  readonly #gateway: GatewayEndpoint | undefined;
  readonly #dns: DnsEndpoint | false | undefined;
  readonly #grace: number;
  readonly #timeoutMs: number;
  readonly #collectorImage: string | undefined;
  readonly #collectTimeoutMs: number;
  /** recordUid → where its Pod is. A cache only: after a restart, found again by label. */
  readonly #where = new Map<string, Location>();

  constructor(opts: KubernetesRuntimeOptions) {
    this.#clients = opts.clients;
    this.#log = (opts.logger ?? silentLogger()).child({ runtime: 'kubernetes' });
    this.#runtimeClassName = opts.runtimeClassName;
    this.#gateway = opts.gateway;
    this.#dns = opts.dns;
    this.#grace = opts.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
    this.#timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.#collectorImage = opts.collectorImage;
    this.#collectTimeoutMs = opts.collectTimeoutMs ?? 600_000;
  }

  async ping(): Promise<string> {
    let version: { gitVersion?: string };
    try {
      version = await this.#clients.request<{ gitVersion?: string }>({
        method: 'GET',
        path: '/version',
        signal: AbortSignal.timeout(Math.min(this.#timeoutMs, 10_000)),
      });
    } catch (err) {
      // Unreachable, refused, timed out, or answering but not letting us in: all mean no runtime.
      throw new RuntimeUnavailableError(`kubernetes API ${this.#server()} unavailable: ${describeError(err)}`, { cause: err });
    }
    return `kubernetes ${version?.gitVersion ?? 'unknown'}`;
  }

  async ensure(spec: ContainerRunSpec): Promise<ContainerObservation> {
    const uid = spec.recordUid;
    const desired = podFor(spec, {
      ...(this.#runtimeClassName ? { runtimeClassName: this.#runtimeClassName } : {}),
      ...(this.#collectorImage ? { collectorImage: this.#collectorImage } : {}),
      terminationGracePeriodSeconds: this.#grace,
    });
    let pod = await this.#createOrAdoptPod(desired, uid);
    const at = locationOf(pod);
    this.#where.set(uid, at);
    if (pod.metadata?.deletionTimestamp) {
      // Being deleted (stopped or removed): report it, do not re-arm it.
      return observationFromPod(pod);
    }
    const owner = ownerReferenceTo(pod);
    await this.#upsert(NETWORK_POLICIES, networkPolicyFor(spec, { gateway: this.#gateway, dns: this.#dns, owner }), uid, sameNetworkPolicy);
    const secret = envSecretFor(spec, owner);
    if (secret) await this.#upsert(SECRETS, secret, uid, sameSecret);
    if (isGated(pod)) {
      pod = await this.#ungate(pod);
      this.#log.info({ pod: `${at.namespace}/${at.name}`, recordUid: uid }, 'pod released for scheduling');
    }
    return observationFromPod(pod);
  }

  async inspect(recordUid: string): Promise<ContainerObservation | undefined> {
    const pod = await this.#find(recordUid);
    return pod ? observationFromPod(pod) : undefined;
  }

  async logTail(recordUid: string, maxBytes: number): Promise<string> {
    try {
      const pod = await this.#find(recordUid);
      if (!pod) return '';
      const { namespace, name } = locationOf(pod);
      // The typed call, not clients.request: that one JSON-parses a body that happens to be
      // JSON, and a log line like `42` or `{"a":1}` must come back as the text it is.
      const read = (tailLines: number, limitBytes: number): Promise<string> =>
        withTimeout(this.#clients.core.readNamespacedPodLog({ name, namespace, container: CONTAINER_NAME, tailLines, limitBytes }), this.#timeoutMs, 'pod log');
      return await tailLog(read, maxBytes);
    } catch (err) {
      // No kubelet (or the node is gone, or the container never started): no log to give.
      this.#log.debug({ recordUid, error: describeError(err) }, 'pod log unavailable');
      return '';
    }
  }

  async collectOutput(recordUid: string, path: string, maxBytes: number): Promise<Buffer> {
    const pod = await this.#find(recordUid);
    if (!pod) throw new OutputMissingError(`no Pod is left for record ${recordUid}: its outputs cannot be read`);
    const can = collectable(pod, path);
    if (!can.ok) {
      if (can.gone) throw new OutputMissingError(can.message);
      throw new Error(can.message);
    }
    const { namespace, name } = locationOf(pod);
    const command = collectCommand(path);
    const exec = new Exec(this.#clients.kubeConfig);
    let result: Awaited<ReturnType<typeof readExec>>;
    try {
      result = await readExec(
        async (stdout, stderr, onStatus) => (await exec.exec(namespace, name, COLLECTOR_NAME, command, stdout, stderr, null, false, onStatus)) as unknown as ExecSocket,
        path,
        maxBytes,
        this.#collectTimeoutMs,
      );
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'ENOTFOUND') {
        throw new RuntimeUnavailableError(`kubernetes API ${this.#server()} unavailable: ${describeError(err)}`, { cause: err });
      }
      throw err;
    }
    if (result.exitCode !== 0) {
      // A tar that failed part way (a file it may not read) is an incomplete output: refused.
      const why = (result.stderr.trim() || result.statusMessage || 'no message').slice(0, 512);
      throw new OutputMissingError(`reading output ${path} in Pod ${namespace}/${name} failed (tar exit ${result.exitCode ?? 'unknown'}): ${why}`);
    }
    this.#log.debug({ pod: `${namespace}/${name}`, recordUid, path, bytes: result.stdout.length }, 'output read from the collector');
    return result.stdout;
  }

  async cpuSeconds(_recordUid: string): Promise<number | undefined> {
    // Would need metrics.k8s.io (a cumulative counter is not even there: it has usage rates).
    return undefined;
  }

  async stop(recordUid: string, graceSeconds: number): Promise<void> {
    const pod = await this.#find(recordUid);
    if (!pod || pod.metadata?.deletionTimestamp) return;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return; // exited: keep its final status
    // The agent container ended and only the collector runs: killing it would lose the outputs.
    if (observationFromPod(pod).state === 'exited') return;
    const { namespace, name } = locationOf(pod);
    if (pod.spec?.nodeName) {
      // In place: the kubelet kills it for its deadline and keeps the Pod (status, log).
      try {
        await this.#api({
          method: 'PATCH',
          path: PODS.apiPath(namespace, name),
          contentType: PatchStrategy.MergePatch,
          body: { spec: { activeDeadlineSeconds: 1 } },
        });
        this.#log.info({ pod: `${namespace}/${name}`, recordUid }, 'pod stopped (activeDeadlineSeconds=1)');
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return;
    }
    await this.#delete(PODS, namespace, name, { gracePeriodSeconds: Math.max(1, Math.ceil(graceSeconds)), uid: pod.metadata?.uid });
    this.#log.info({ pod: `${namespace}/${name}`, recordUid }, 'unscheduled pod stopped by deleting it');
  }

  async remove(recordUid: string): Promise<void> {
    const pod = await this.#find(recordUid);
    if (pod) {
      const { namespace, name } = locationOf(pod);
      if (!pod.metadata?.deletionTimestamp) await this.#delete(PODS, namespace, name, { uid: pod.metadata?.uid });
      await this.#delete(SECRETS, namespace, envSecretNameFor(name));
      const still = await this.#get<V1Pod>(PODS, namespace, name);
      if (still && still.metadata?.uid === pod.metadata?.uid) {
        this.#log.info({ pod: `${namespace}/${name}`, recordUid }, 'pod terminating: its NetworkPolicy stays until it is gone');
        return;
      }
      await this.#delete(NETWORK_POLICIES, namespace, name);
      this.#where.delete(recordUid);
      return;
    }
    // No Pod (deleted by a stop, by hand, or never created): what is left of it, by label.
    const cached = this.#where.get(recordUid);
    const leftovers: Location[] = cached
      ? [cached]
      : (await this.#listAll<V1NetworkPolicy>(NETWORK_POLICIES, `${RECORD_UID_LABEL}=${recordUid}`)).map(locationOf);
    for (const { namespace, name } of leftovers) {
      await this.#delete(NETWORK_POLICIES, namespace, name);
      await this.#delete(SECRETS, namespace, envSecretNameFor(name));
    }
    this.#where.delete(recordUid);
  }

  async listRecordUids(namespace?: string): Promise<string[]> {
    const pods = await this.#listAll<V1Pod>(PODS, MANAGED_POD_SELECTOR, namespace);
    const uids = new Set<string>();
    for (const pod of pods) {
      const uid = pod.metadata?.labels?.[RECORD_UID_LABEL];
      if (uid) uids.add(uid);
    }
    return [...uids];
  }

  watch(onChange: (recordUid: string) => void): () => void {
    const informer = new Informer<V1Pod>(this.#clients, PODS, {
      labelSelector: MANAGED_POD_SELECTOR,
      resyncPeriodMs: 0,
      logger: this.#log,
    });
    const fire = (pod: V1Pod): void => {
      const uid = pod.metadata?.labels?.[RECORD_UID_LABEL];
      if (!uid) return;
      try {
        onChange(uid);
      } catch (err) {
        this.#log.error({ recordUid: uid, error: describeError(err) }, 'runtime watch handler threw');
      }
    };
    informer.on({
      add: fire,
      delete: fire,
      update: (pod, old) => {
        if (pod !== old && observedChange(pod, old)) fire(pod);
      },
    });
    informer.start();
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      void informer.stop();
    };
  }

  // ---- API plumbing -------------------------------------------------------------------

  #server(): string {
    return this.#clients.kubeConfig.getCurrentCluster()?.server ?? '(no cluster)';
  }

  /** clients.request with a timeout; connection failures become RuntimeUnavailableError. */
  async #api<T>(opts: RequestOptions): Promise<T> {
    try {
      return await this.#clients.request<T>({ ...opts, signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      const code = statusCodeOf(err);
      if (code === undefined || code === 502 || code === 503 || code === 504) {
        throw new RuntimeUnavailableError(`kubernetes API ${this.#server()} unavailable: ${describeError(err)}`, { cause: err });
      }
      throw err;
    }
  }

  async #get<T>(type: ResourceType, namespace: string, name: string): Promise<T | undefined> {
    try {
      return await this.#api<T>({ method: 'GET', path: type.apiPath(namespace, name) });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Deletes; a missing object is fine. uid: only that incarnation (a precondition). */
  async #delete(type: ResourceType, namespace: string, name: string, opts: { gracePeriodSeconds?: number; uid?: string | undefined } = {}): Promise<void> {
    try {
      await this.#api({
        method: 'DELETE',
        path: type.apiPath(namespace, name),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
          ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
        },
      });
    } catch (err) {
      // 409: the uid precondition failed, i.e. that incarnation is gone already.
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  async #listAll<T extends KubernetesObject>(type: ResourceType, labelSelector: string, namespace?: string): Promise<T[]> {
    const out: T[] = [];
    let cont: string | undefined;
    do {
      const page: RawList<T> = await this.#api<RawList<T>>({
        method: 'GET',
        path: type.apiPath(namespace),
        query: { labelSelector, limit: 500, continue: cont },
      });
      out.push(...page.items);
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return out;
  }

  /** The record's Pod: from the cache of ensure(), else by label in every namespace. */
  async #find(recordUid: string): Promise<V1Pod | undefined> {
    const at = this.#where.get(recordUid);
    if (at) {
      const pod = await this.#get<V1Pod>(PODS, at.namespace, at.name);
      if (pod?.metadata?.labels?.[RECORD_UID_LABEL] === recordUid) return pod;
      if (!pod) return undefined;
    }
    const page = await this.#api<RawList<V1Pod>>({
      method: 'GET',
      path: PODS.apiPath(),
      query: { labelSelector: `${RECORD_UID_LABEL}=${recordUid}`, limit: 50 },
    });
    const pods = page.items.filter((p) => p.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
    const pod = pods.find((p) => !p.metadata?.deletionTimestamp) ?? pods[0];
    if (pod) this.#where.set(recordUid, locationOf(pod));
    return pod;
  }

  /** Creates the gated Pod, or adopts the one of that name if it is this record's. */
  async #createOrAdoptPod(desired: V1Pod, recordUid: string): Promise<V1Pod> {
    const { namespace, name } = locationOf(desired);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      try {
        const created = await this.#api<V1Pod>({ method: 'POST', path: PODS.apiPath(namespace), body: desired });
        this.#log.info({ pod: `${namespace}/${name}`, recordUid }, 'pod created (gated)');
        return created;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      const existing = await this.#get<V1Pod>(PODS, namespace, name);
      if (!existing) continue; // deleted in between: create again
      assertOwnedBy(existing, recordUid, 'Pod');
      this.#log.debug({ pod: `${namespace}/${name}`, recordUid }, 'pod adopted');
      return existing;
    }
    throw new Error(`Pod ${namespace}/${name}: could not create or read it after ${WRITE_ATTEMPTS} attempts`);
  }

  /** Creates the object, or brings the existing one of this record to the desired state. */
  async #upsert<T extends KubernetesObject>(type: ResourceType, desired: T, recordUid: string, same: (existing: T, desired: T) => boolean): Promise<void> {
    const { namespace, name } = locationOf(desired);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      try {
        await this.#api({ method: 'POST', path: type.apiPath(namespace), body: desired });
        this.#log.debug({ [type.kind]: `${namespace}/${name}`, recordUid }, 'created');
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      const existing = await this.#get<T>(type, namespace, name);
      if (!existing) continue;
      assertOwnedBy(existing, recordUid, type.kind);
      if (same(existing, desired)) return;
      try {
        await this.#api({
          method: 'PUT',
          path: type.apiPath(namespace, name),
          body: { ...desired, metadata: { ...desired.metadata, resourceVersion: existing.metadata?.resourceVersion } },
        });
        this.#log.info({ [type.kind]: `${namespace}/${name}`, recordUid }, 'updated to the desired state');
        return;
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }
    throw new Error(`${type.kind} ${namespace}/${name}: could not create or update it after ${WRITE_ATTEMPTS} attempts`);
  }

  /** Removes SETUP_GATE (and only it: other gates belong to others, e.g. a batch queue). */
  async #ungate(pod: V1Pod): Promise<V1Pod> {
    const { namespace, name } = locationOf(pod);
    let current: V1Pod = pod;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      if (!isGated(current)) return current;
      const remaining = (current.spec?.schedulingGates ?? []).filter((g) => g.name !== SETUP_GATE);
      try {
        return await this.#api<V1Pod>({
          method: 'PATCH',
          path: PODS.apiPath(namespace, name),
          contentType: PatchStrategy.MergePatch,
          // resourceVersion: a gate list read before someone else's change must not overwrite it.
          body: { metadata: { resourceVersion: current.metadata?.resourceVersion }, spec: { schedulingGates: remaining } },
        });
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      const again = await this.#get<V1Pod>(PODS, namespace, name);
      if (!again || again.metadata?.uid !== pod.metadata?.uid) throw new Error(`Pod ${namespace}/${name} disappeared while it was being released`);
      current = again;
    }
    throw new Error(`Pod ${namespace}/${name}: could not remove its scheduling gate after ${WRITE_ATTEMPTS} attempts`);
  }
}

/** Rejects after ms (the typed client takes no AbortSignal; the request is left to finish). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function locationOf(obj: KubernetesObject): Location {
  const namespace = obj.metadata?.namespace;
  const name = obj.metadata?.name;
  if (!namespace || !name) throw new Error(`${obj.kind ?? 'object'} without namespace/name`);
  return { namespace, name };
}

function assertOwnedBy(obj: KubernetesObject, recordUid: string, kind: string): void {
  const other = obj.metadata?.labels?.[RECORD_UID_LABEL];
  if (other === recordUid) return;
  const { namespace, name } = locationOf(obj);
  throw new Error(
    `${kind} ${namespace}/${name} already exists and belongs to ${other ? `record uid ${other}` : 'no agent-machine record'}; ` +
      `refusing to adopt it for record ${recordUid}`,
  );
}

/** JSON with undefined/null fields and empty lists dropped, keys sorted (server defaults aside). */
function canonical(v: unknown): string {
  const norm = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(norm);
    if (x && typeof x === 'object' && !(x instanceof Date)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) {
        const val = (x as Record<string, unknown>)[k];
        if (val === undefined || val === null || (Array.isArray(val) && val.length === 0)) continue;
        out[k] = norm(val);
      }
      return out;
    }
    return x;
  };
  return JSON.stringify(norm(v));
}

function sameOwnersAndLabels(existing: KubernetesObject, desired: KubernetesObject): boolean {
  const uids = (o: KubernetesObject) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid).sort().join(',');
  if (uids(existing) !== uids(desired)) return false;
  const have = existing.metadata?.labels ?? {};
  return Object.entries(desired.metadata?.labels ?? {}).every(([k, v]) => have[k] === v);
}

function sameNetworkPolicy(existing: V1NetworkPolicy, desired: V1NetworkPolicy): boolean {
  return sameOwnersAndLabels(existing, desired) && canonical(existing.spec) === canonical(desired.spec);
}

function sameSecret(existing: V1Secret, desired: V1Secret): boolean {
  return sameOwnersAndLabels(existing, desired) && existing.type === desired.type && canonical(existing.data ?? {}) === canonical(desired.data ?? {});
}

/** Worth a callback: what inspect() reports changed, or the Pod started being deleted / was released. */
function observedChange(pod: V1Pod, old: V1Pod): boolean {
  if (Boolean(pod.metadata?.deletionTimestamp) !== Boolean(old.metadata?.deletionTimestamp)) return true;
  if (isGated(pod) !== isGated(old)) return true;
  return JSON.stringify(observationFromPod(pod)) !== JSON.stringify(observationFromPod(old));
}
