// How a ContainerRunSpec becomes a Pod (plus the Secret that carries its environment), and
// how a Pod's status reads back as a ContainerObservation. Pure functions: no API calls, so
// every field the sandbox depends on is checked by unit tests.
//
// What the Pod enforces and what it cannot:
//   - memory and CPU: requests = limits (Guaranteed QoS), enforced by the node's cgroups;
//   - scratch: /tmp is a memory-backed emptyDir (tmpfs) with sizeLimit = scratchBytes. Its
//     pages are charged to the container's memory limit, as a Docker --tmpfs is;
//   - ephemeral-storage = scratchBytes bounds what lands on the node's disk: the declared
//     output emptyDirs and the container log (the root filesystem is read-only). The kubelet
//     evicts the Pod past it; it is not a filesystem quota;
//   - pids: the Pod API has no per-pod pids field. The limit is the node's (kubelet
//     podPidsLimit / --pod-max-pids), so ContainerLimits.pidsLimit is NOT applied here;
//   - the workspace is a hostPath volume (type Directory) mounted read-only (recursively
//     where the node supports it). On a real cluster the folder must exist on whichever node
//     runs the Pod (a single-node k3s/kind workstation, or a path every node shares), and
//     Pod Security Admission's baseline/restricted levels reject hostPath volumes: a namespace
//     that enforces them cannot run records with a workspace;
//   - declared outputs are emptyDirs: writable, but they live and die with the Pod. So a Pod
//     with outputs has a second container, the collector (COLLECTOR_NAME, collectorFor): it
//     mounts the outputs read-only and only waits; after the agent container ends, the
//     controller reads each output as a tar by exec into it (output-exec.ts), before remove();
//   - the environment never appears in the Pod: every value goes into a Secret named
//     `<pod>-env` and is referenced with secretKeyRef (the spec's env does not say which
//     values are secret, so all are treated as secret).
//
// The Pod is created with a scheduling gate, so no node runs it until the runtime has created
// its NetworkPolicy and env Secret (both owned by the Pod) and removed the gate. See
// kubernetes-runtime.ts for why that order.
import type {
  V1Container,
  V1ContainerStatus,
  V1EnvVar,
  V1OwnerReference,
  V1Pod,
  V1Secret,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_NAME_LABEL, RECORD_UID_LABEL } from '../container-runtime.ts';
import type { ContainerObservation, ContainerRunSpec } from '../container-runtime.ts';

/** The one container of a record's Pod. */
export const CONTAINER_NAME = 'main';
/** Scheduling gate that holds the Pod until its NetworkPolicy and env Secret exist. */
export const SETUP_GATE = 'agentmachine.sourceos.dev/setup';
/** Full namespace/name of the record (the label value may be shortened). */
export const RECORD_REF_ANNOTATION = 'agentmachine.sourceos.dev/record-ref';
/** The unprivileged user and group the sandbox runs as (distroless "nonroot"). */
export const SANDBOX_UID = 65532;

/** The collector container of a Pod with declared outputs (see collectorFor). */
export const COLLECTOR_NAME = 'collect';
/**
 * The collector's image when none is configured: it needs only `sh`, `sleep` and `tar`
 * (busybox has all three). Runtimes pull as the kubelet's imagePullPolicy says (IfNotPresent).
 */
export const DEFAULT_COLLECTOR_IMAGE = 'docker.io/library/busybox:1.36';
/**
 * What the collector asks of the node: it sleeps, and a busybox tar streams (no buffering) in
 * an exec. Small, but requests = limits so the Pod keeps Guaranteed QoS.
 */
export const COLLECTOR_RESOURCES = { memory: String(32 * 1024 * 1024), cpu: '50m', 'ephemeral-storage': String(1024 * 1024) };

export interface PodOptions {
  runtimeClassName?: string;
  /** Image of the collector container (default DEFAULT_COLLECTOR_IMAGE). */
  collectorImage?: string;
  /** Seconds between SIGTERM and SIGKILL when the Pod is stopped (default: Kubernetes' 30). */
  terminationGracePeriodSeconds?: number;
}

/** Longest Pod name used: 63 keeps it valid as a DNS label (hostname) too. */
const MAX_NAME = 63;

/** `am-<recordName>-<uid8>`: deterministic, DNS-1123 label, at most 63 characters. */
export function podNameFor(spec: Pick<ContainerRunSpec, 'recordName' | 'recordUid'>): string {
  const uid8 = spec.recordUid.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8);
  if (uid8.length === 0) throw new Error(`record uid ${JSON.stringify(spec.recordUid)} has no usable characters`);
  const room = MAX_NAME - 'am-'.length - '-'.length - uid8.length;
  const base = spec.recordName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+/, '')
    .slice(0, room)
    .replace(/-+$/, '');
  return base ? `am-${base}-${uid8}` : `am-${uid8}`;
}

/** Name of the Secret holding a Pod's environment. */
export function envSecretNameFor(podName: string): string {
  return `${podName}-env`;
}

/** A label value (≤63, alphanumeric at both ends, [-._a-zA-Z0-9] inside). */
export function labelValue(s: string): string {
  return s
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
}

/** Labels of everything the runtime creates for a record. */
export function labelsFor(spec: Pick<ContainerRunSpec, 'recordName' | 'recordUid'>): Record<string, string> {
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [RECORD_UID_LABEL]: spec.recordUid,
    [RECORD_NAME_LABEL]: labelValue(spec.recordName),
  };
}

function annotationsFor(spec: ContainerRunSpec): Record<string, string> {
  return { [RECORD_REF_ANNOTATION]: `${spec.recordNamespace}/${spec.recordName}` };
}

/** Secret keys allow [-._a-zA-Z0-9]; env names are freer. Stable mapping name → key. */
export function envKeys(names: readonly string[]): Map<string, string> {
  const keys = new Map<string, string>();
  const used = new Set<string>();
  const sorted = [...names].sort();
  // Valid names keep themselves; the rest get a generated key that cannot collide.
  for (const name of sorted) {
    if (/^[-._a-zA-Z0-9]{1,253}$/.test(name) && name !== '.' && name !== '..') {
      keys.set(name, name);
      used.add(name);
    }
  }
  let i = 0;
  for (const name of sorted) {
    if (keys.has(name)) continue;
    let key: string;
    do key = `env.${i++}`;
    while (used.has(key));
    keys.set(name, key);
    used.add(key);
  }
  return keys;
}

function positiveInteger(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${what} must be a positive integer, got ${n}`);
  return n;
}

/**
 * The record's Pod, gated (schedulingGates: [SETUP_GATE]). No env value appears in it: env
 * vars reference the `<pod>-env` Secret.
 */
export function podFor(spec: ContainerRunSpec, opts: PodOptions = {}): V1Pod {
  const name = podNameFor(spec);
  const memory = positiveInteger('limits.memoryBytes', spec.limits.memoryBytes);
  const cpu = positiveInteger('limits.cpuMillis', spec.limits.cpuMillis);
  const scratch = positiveInteger('limits.scratchBytes', spec.limits.scratchBytes);
  const resources = { memory: String(memory), cpu: `${cpu}m`, 'ephemeral-storage': String(scratch) };

  const keys = envKeys(Object.keys(spec.env));
  const secretName = envSecretNameFor(name);
  const env: V1EnvVar[] = [...keys].map(([envName, key]) => ({
    name: envName,
    valueFrom: { secretKeyRef: { name: secretName, key } },
  }));

  const volumes: V1Volume[] = [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: String(scratch) } }];
  const mounts: V1VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (spec.workspace) {
    volumes.push({ name: 'workspace', hostPath: { path: spec.workspace.hostPath, type: 'Directory' } });
    mounts.push({ name: 'workspace', mountPath: spec.workspace.mountPath, readOnly: true, recursiveReadOnly: 'IfPossible' });
  }
  spec.outputs.forEach((out, i) => {
    volumes.push({ name: `out-${i}`, emptyDir: {} });
    mounts.push({ name: `out-${i}`, mountPath: out.path });
  });

  const container: V1Container = {
    name: CONTAINER_NAME,
    image: spec.image,
    ...(spec.command ? { command: [...spec.command] } : {}),
    ...(spec.args ? { args: [...spec.args] } : {}),
    ...(spec.workingDir ? { workingDir: spec.workingDir } : {}),
    ...(env.length > 0 ? { env } : {}),
    resources: { requests: { ...resources }, limits: { ...resources } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: mounts,
  };

  const containers: V1Container[] = [container];
  if (spec.outputs.length > 0) containers.push(collectorFor(spec, opts.collectorImage ?? DEFAULT_COLLECTOR_IMAGE));

  let deadline: number | undefined;
  if (spec.deadlineSeconds !== undefined) deadline = positiveInteger('deadlineSeconds', Math.ceil(spec.deadlineSeconds));

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: spec.recordNamespace,
      labels: labelsFor(spec),
      annotations: annotationsFor(spec),
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(deadline !== undefined ? { activeDeadlineSeconds: deadline } : {}),
      ...(opts.runtimeClassName ? { runtimeClassName: opts.runtimeClassName } : {}),
      ...(opts.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: opts.terminationGracePeriodSeconds } : {}),
      schedulingGates: [{ name: SETUP_GATE }],
      securityContext: {
        runAsNonRoot: true,
        runAsUser: SANDBOX_UID,
        runAsGroup: SANDBOX_UID,
        fsGroup: SANDBOX_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers,
      volumes,
    },
  };
}

/**
 * The collector: the outputs' emptyDirs mounted read-only at the same paths as in the agent
 * container (so an output's tar names entries as the docker runtime's archive does), no env,
 * no service account token, the sandbox's security context. It only waits: the controller
 * pulls each output by exec (collectCommand) once the agent container has ended, so no
 * credential of the output registry ever enters the Pod. It exits at once on SIGTERM (the
 * shell traps it; a bare `sleep` as PID 1 would ignore it for the whole grace period), so
 * remove() ends the Pod promptly.
 *
 * A plain container rather than a native sidecar (restartPolicy: Always init container): the
 * kubelet stops sidecars as soon as the regular containers end, which is exactly when the
 * outputs are to be read.
 */
export function collectorFor(spec: Pick<ContainerRunSpec, 'outputs'>, image: string): V1Container {
  return {
    name: COLLECTOR_NAME,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', "trap 'exit 0' TERM; sleep 2147483647 & wait"],
    resources: { requests: { ...COLLECTOR_RESOURCES }, limits: { ...COLLECTOR_RESOURCES } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: spec.outputs.map((out, i) => ({ name: `out-${i}`, mountPath: out.path, readOnly: true })),
  };
}

/**
 * The command run in the collector to read one output: a tar of the path's last component
 * from its parent, the shape Docker's archive API gives (out/report.txt), which
 * relativeToOutput then makes relative. Refuses paths that are not absolute or are `/`.
 */
export function collectCommand(path: string): string[] {
  const clean = path.replace(/\/+$/, '');
  if (!clean.startsWith('/') || clean === '') throw new Error(`output path ${JSON.stringify(path)} is not an absolute path below /`);
  const cut = clean.lastIndexOf('/');
  return ['tar', '-c', '-f', '-', '-C', clean.slice(0, cut) || '/', clean.slice(cut + 1)];
}

/** The Secret with the Pod's environment (undefined when the spec has no env). */
export function envSecretFor(spec: ContainerRunSpec, owner?: V1OwnerReference): V1Secret | undefined {
  const names = Object.keys(spec.env);
  if (names.length === 0) return undefined;
  const data: Record<string, string> = {};
  for (const [envName, key] of envKeys(names)) data[key] = Buffer.from(spec.env[envName] ?? '', 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: envSecretNameFor(podNameFor(spec)),
      namespace: spec.recordNamespace,
      labels: labelsFor(spec),
      annotations: annotationsFor(spec),
      ...(owner ? { ownerReferences: [owner] } : {}),
    },
    type: 'Opaque',
    data,
  };
}

/**
 * An ownerReference to the Pod: the garbage collector deletes the dependant once the Pod is
 * gone. No blockOwnerDeletion (it needs update on pods/finalizers, and nothing waits on it).
 */
export function ownerReferenceTo(pod: V1Pod): V1OwnerReference {
  const name = pod.metadata?.name;
  const uid = pod.metadata?.uid;
  if (!name || !uid) throw new Error('ownerReferenceTo: the Pod has no name/uid (not created yet?)');
  return { apiVersion: 'v1', kind: 'Pod', name, uid, controller: true };
}

export function isGated(pod: V1Pod): boolean {
  return (pod.spec?.schedulingGates ?? []).some((g) => g.name === SETUP_GATE);
}

/** Timestamps are strings in raw JSON and Dates in client-node's typed objects. */
function iso(v: unknown): string | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * `docker-pullable://repo@sha256:…`, `docker://sha256:…`, `containerd://…` → what follows the
 * scheme; a bare `repo@sha256:…` or `sha256:…` stays as it is.
 */
export function imageDigestOf(imageID: string | undefined): string | undefined {
  if (!imageID) return undefined;
  const stripped = imageID.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  return stripped || undefined;
}

export function containerStatusOf(pod: V1Pod): V1ContainerStatus | undefined {
  const statuses = pod.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === CONTAINER_NAME) ?? statuses[0];
}

/**
 * What a Pod says about its container:
 *   - Pending (including gated, unscheduled, pulling, ImagePullBackOff) → created, with the
 *     reason the kubelet or the scheduler gives (podWaitingReason);
 *   - Running, or Unknown (the node stopped reporting; the container may still run) → running;
 *   - a terminated container, Succeeded or Failed → exited, with exitCode, reason OOMKilled →
 *     oomKilled, startedAt/finishedAt from the terminated state;
 *   - Failed with status.reason DeadlineExceeded (activeDeadlineSeconds, or an in-place stop)
 *     → exited with exitCode undefined: the code is only the signal the kubelet killed it with
 *     (137/143) and must not read as the program's own failure or as an OOM kill.
 */
export function observationFromPod(pod: V1Pod): ContainerObservation {
  const cs = containerStatusOf(pod);
  const phase = pod.status?.phase;
  const id = pod.metadata?.uid ?? pod.metadata?.name ?? '';
  const imageDigest = imageDigestOf(cs?.imageID);
  const digest = imageDigest ? { imageDigest } : {};
  const terminated = cs?.state?.terminated;

  if (phase === 'Failed' && pod.status?.reason === 'DeadlineExceeded') {
    const startedAt = iso(terminated?.startedAt) ?? iso(cs?.state?.running?.startedAt) ?? iso(pod.status?.startTime);
    const finishedAt = iso(terminated?.finishedAt);
    return { id, state: 'exited', ...(startedAt ? { startedAt } : {}), ...(finishedAt ? { finishedAt } : {}), ...digest };
  }
  if (terminated || phase === 'Succeeded' || phase === 'Failed') {
    const startedAt = iso(terminated?.startedAt) ?? iso(pod.status?.startTime);
    const finishedAt = iso(terminated?.finishedAt);
    return {
      id,
      state: 'exited',
      ...(terminated && Number.isInteger(terminated.exitCode) ? { exitCode: terminated.exitCode } : {}),
      oomKilled: terminated?.reason === 'OOMKilled',
      ...(startedAt ? { startedAt } : {}),
      ...(finishedAt ? { finishedAt } : {}),
      ...digest,
    };
  }
  if (phase === 'Running' || phase === 'Unknown' || cs?.state?.running) {
    const startedAt = iso(cs?.state?.running?.startedAt) ?? iso(pod.status?.startTime);
    return { id, state: 'running', ...(startedAt ? { startedAt } : {}), ...digest };
  }
  return { id, state: 'created', ...digest, waiting: podWaitingReason(pod) };
}

/**
 * Why a Pod's container is not running yet, as `kubectl describe pod` would say: the
 * container's waiting state (ContainerCreating, ErrImagePull, ImagePullBackOff,
 * CreateContainerConfigError) first, then the scheduler's (PodScheduled=False:
 * SchedulingGated, Unschedulable), else PodPending.
 */
export function podWaitingReason(pod: V1Pod): { reason: string; message: string } {
  const waiting = containerStatusOf(pod)?.state?.waiting;
  if (waiting?.reason) return { reason: waiting.reason, message: `the Pod's container is waiting: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` };
  const gates = pod.spec?.schedulingGates ?? [];
  // The API server writes PodScheduled=False/SchedulingGated and only the scheduler replaces
  // it: once the gates are gone that reason is stale.
  const scheduled = (pod.status?.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'False' && (c.reason !== 'SchedulingGated' || gates.length > 0));
  if (scheduled?.reason) return { reason: scheduled.reason, message: `the Pod is not scheduled: ${scheduled.reason}${scheduled.message ? `: ${scheduled.message}` : ''}` };
  if (gates.length > 0) return { reason: 'SchedulingGated', message: `the Pod is not scheduled: SchedulingGated: gates ${gates.map((g) => g.name).join(', ')}` };
  if (!pod.spec?.nodeName) return { reason: 'PodPending', message: 'the Pod is not scheduled to a node yet' };
  return { reason: 'PodPending', message: `the Pod is ${pod.status?.phase ?? 'Pending'} on node ${pod.spec.nodeName}; no container is running yet` };
}
