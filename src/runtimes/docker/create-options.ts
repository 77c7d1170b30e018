// The create request of a record's container: its name, labels, and the hardening. Pure: what
// the engine is and how the controller is configured arrive as a CreateContext.
//
// Names and labels. The container has a deterministic name (am-<namespace>-<name>-<uid[0:8]>)
// and everything created carries the record's UID as a label: that is how the lifecycle
// (docker-runtime.ts) adopts instead of creating twice.
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
// Network. 'open' → the engine's default network (podman as root: the 'podman' bridge,
// 10.88.0.0/16, NAT to the outside). 'none', 'gateway-only' and 'allowlist' → no direct
// egress: the gatewayNetwork when one is configured (an *internal* network: no route off its
// subnet, so the container reaches only the host's address on that bridge, where the gateway
// listens; see DockerRuntimeOptions.gatewayNetwork), else NetworkMode 'none' (lo only). What
// such a container may reach beyond the gateway is decided by the gateway's egress proxy
// (src/gateway/egress-proxy.ts; the container gets HTTP(S)_PROXY pointing at it): a
// connection that ignores the proxy has no route.
import type { ContainerCreateOptions, HostConfig, MountSettings } from 'dockerode';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_NAME_LABEL, RECORD_UID_LABEL } from '../container-runtime.ts';
import type { ContainerRunSpec } from '../container-runtime.ts';

/** The user every container runs as (the sandbox image's non-root user). */
export const SANDBOX_USER = '65532:65532';
const SANDBOX_UID = 65532;
/** Label on output volumes: the declared output's name. */
export const OUTPUT_LABEL = 'agentmachine.sourceos.dev/output';
export const OWNER_LABEL = 'agentmachine.sourceos.dev/cluster-uid';
/** Host name a gateway-network container resolves to the gateway address. */
export const GATEWAY_HOSTNAME = 'agent-machine-gateway';
/** Engine-side log cap per container (json-file / k8s-file max-size). */
export const DEFAULT_LOG_MAX_BYTES = 8 * 1024 * 1024;

const MiB = 1024 * 1024;
/** Any HostConfig.Ulimits replaces the engine defaults, so nofile and nproc are always both set
 * (nproc counts per host uid, not per container: PidsLimit is the real per-container cap). */
const ULIMITS = [
  { Name: 'nofile', Soft: 1024, Hard: 1024 },
  { Name: 'nproc', Soft: 32768, Hard: 32768 },
];

/** What ensure() needs to know about the engine and its configuration to build a container. */
export interface CreateContext {
  engine: 'podman' | 'docker';
  logMaxBytes: number;
  owner?: string;
  gateway?: { network: string; host: string };
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
export function labelValue(s: string): string {
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
    case 'open':
      // The engine's default network ('bridge' means that to both podman and Docker).
      networkMode = 'bridge';
      break;
    case 'none':
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
  // The gateway's proxy variables (in spec.env) win: the corporate proxy is reached through it.
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
