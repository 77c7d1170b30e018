// The local node's configuration files and its readiness, as pure functions (src/dev/local-node.ts
// writes and polls them). The settings are what these machines need (../shared/RECIPES.md, "A
// real node"): each line says why it is not the default.
import type { V1Node } from '@kubernetes/client-node';

export interface ContainerdPaths {
  root: string;
  state: string;
  socket: string;
  pauseImage: string;
  cniBinDir: string;
  cniConfDir: string;
  /** runc's state root: private, so two nodes on one machine never list each other's containers. */
  runcRoot: string;
}

const toml = (s: string): string => JSON.stringify(s);

export function nodeContainerdConfig(p: ContainerdPaths): string {
  return [
    'version = 2',
    `root = ${toml(p.root)}`,
    `state = ${toml(p.state)}`,
    // Another node (another checkout's tests) may run beside this one: nothing on default paths.
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]',
    `  address = ${toml(p.socket)}`,
    '[ttrpc]',
    `  address = ${toml(`${p.socket}.ttrpc`)}`,
    '[debug]',
    '  level = "warn"',
    '[plugins."io.containerd.grpc.v1.cri"]',
    // Nothing can pull registry.k8s.io/pause here: a local image that sleeps forever.
    `  sandbox_image = ${toml(p.pauseImage)}`,
    // Without it every sandbox fails ("can't get final child's PID from pipe: EOF"): this
    // process may not lower oom_score_adj.
    '  restrict_oom_score_adj = true',
    // The CNI plugins' network namespaces go under state, which stop() unmounts.
    '  netns_mounts_under_state_dir = true',
    '  enable_selinux = false',
    '[plugins."io.containerd.grpc.v1.cri".cni]',
    `  bin_dir = ${toml(p.cniBinDir)}`,
    `  conf_dir = ${toml(p.cniConfDir)}`,
    '[plugins."io.containerd.grpc.v1.cri".containerd]',
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '  runtime_type = "io.containerd.runc.v2"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    // cgroup v1/v2 hybrid without systemd as init: cgroupfs.
    '  SystemdCgroup = false',
    `  Root = ${toml(p.runcRoot)}`,
    '',
  ].join('\n');
}

/**
 * A bridge of its own (name and /24 chosen from suffix, so nodes side by side do not share one)
 * with host-local addresses; no portmap and no masquerade: Pods reach the host's bridge address,
 * nothing needs NAT.
 */
export function nodeCniConflist(suffix: string, ipamDataDir: string): object {
  const n = Number.parseInt(suffix.slice(0, 4), 16);
  const subnet = `10.${200 + (n % 50)}.${(n >> 6) % 256}.0/24`;
  return {
    cniVersion: '0.4.0',
    name: `am-${suffix}`,
    plugins: [
      {
        type: 'bridge',
        bridge: `am${suffix}`.slice(0, 15),
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDataDir },
      },
    ],
  };
}

/**
 * The node's own address: the kubelet refuses a loopback node IP, so the node gets a private
 * /32 on an interface of its own (a bridge without ports; the kernel here has no dummy links),
 * named and numbered from suffix like the CNI bridge. The kubelet listens only there.
 */
export function nodeAddress(suffix: string): { link: string; ip: string } {
  const n = Number.parseInt(suffix.slice(0, 6), 16);
  return { link: `amn${suffix}`.slice(0, 15), ip: `10.${250 + (n % 5)}.${(n >> 3) % 256}.${1 + ((n >> 11) % 250)}` };
}

export interface KubeletSettings {
  /** The node's address (nodeAddress): the kubelet's API listens there for the apiserver. */
  address: string;
  socket: string;
  port: number;
  healthzPort: number;
  podLogsDir: string;
}

export function nodeKubeletConfig(s: KubeletSettings): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${s.socket}`,
    // Its own host-local address and free ports: several nodes (checkouts) may share the machine.
    address: s.address,
    port: s.port,
    healthzBindAddress: '127.0.0.1',
    healthzPort: s.healthzPort,
    readOnlyPort: 0,
    // A loopback-only test node: the apiserver reaches it without client certificates.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    // No systemd, a hybrid cgroup layout and a sandbox that may not set up QoS cgroups or
    // node-allocatable enforcement.
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    // On: the runtime's Pods request ephemeral-storage, which a node without it has none of.
    localStorageCapacityIsolation: true,
    podLogsDir: s.podLogsDir,
    // A shared disk and shared memory: do not evict test Pods because of other people's use.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    // Pod status reaches the API sooner (defaults are tuned for large clusters).
    nodeStatusUpdateFrequency: '5s',
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
  };
}

/** Ready when the Ready condition is True and no not-ready/unschedulable taint keeps Pods away. */
export function nodeReadiness(node: V1Node | undefined): { ready: boolean; detail: string } {
  if (!node) return { ready: false, detail: 'the node has not registered yet' };
  const cond = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (cond?.status !== 'True') return { ready: false, detail: `Ready=${cond?.status ?? 'unknown'}: ${cond?.message ?? ''}` };
  const blocking = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  if (blocking.length > 0) return { ready: false, detail: `tainted ${blocking.map((t) => t.key).join(', ')}` };
  if (node.spec?.unschedulable) return { ready: false, detail: 'unschedulable' };
  return { ready: true, detail: 'Ready' };
}
