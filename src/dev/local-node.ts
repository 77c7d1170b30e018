// A real single node for a local control plane: containerd (Debian's, private config, root,
// state and socket), a kubelet, kube-scheduler and kube-controller-manager built from the same
// Go modules as kube-apiserver (scripts/ensure-node-runtime.sh). Pods created through the API
// are scheduled, run by runc and reported by the kubelet, as on a cluster. Everything it starts
// is private to one temp dir and torn down by stop() (and on process exit, by the supervisor).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { freePorts } from './free-ports.ts';
import { nodeAddress, nodeCniConflist, nodeContainerdConfig, nodeKubeletConfig, nodeReadiness } from './local-node-config.ts';
import { createOwnedTempDir } from './owned-temp-dir.ts';
import { spawnSupervised } from './supervised-process.ts';
import type { SupervisedProcess } from './supervised-process.ts';

export interface LocalNodeOptions {
  /** Folder holding kubelet, kube-scheduler and kube-controller-manager. */
  binDir: string;
  /** Folder of the CNI plugins (bridge, host-local, loopback). */
  cniBinDir: string;
  /** A local image whose entrypoint never exits: the Pod sandbox ("pause") image. */
  pauseImage: string;
  /** podman images imported into containerd besides the pause image, e.g. the sandbox image. */
  images?: string[];
  /** CONTAINERS_CONF for `podman save` (scripts/ensure-podman.sh). */
  containersConf?: string;
  /** Admin kubeconfig: the scheduler and controller-manager run as it; RBAC for the node is granted with it. */
  adminKubeconfigPath: string;
  /**
   * The kubelet's kubeconfig: a token of `system:node:<nodeName>` in group system:nodes. Its
   * user is bound to the ClusterRole system:node (no Node authorizer runs here).
   */
  kubeletKubeconfigPath: string;
  /** Default agent-machine-node. */
  nodeName?: string;
  /** Private key that signs ServiceAccount tokens (the control plane's pki/sa.key); enables the token controller. */
  serviceAccountKeyPath?: string;
  /**
   * The apiserver's CA (PEM file): the controller-manager publishes it as the ConfigMap
   * kube-root-ca.crt in every namespace, which a Pod's ServiceAccount token volume needs.
   */
  rootCaFile?: string;
  /**
   * Controller-manager controllers besides the node's own, e.g. deployment and replicaset for
   * an in-cluster install. Off by default: a test's shared API server may hold Deployments (the
   * install's) that only the file that imports their image should run.
   */
  extraControllers?: string[];
  /** Default 120 s. */
  startTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface LocalNode {
  nodeName: string;
  /** The node's own address (a /32 on a link of its own): Pods on the node reach the host there. */
  address: string;
  containerdSocket: string;
  /** Milliseconds from spawning containerd to the node Ready (images imported). */
  startupMs: number;
  logPaths: Record<'containerd' | 'kubelet' | 'scheduler' | 'controllerManager', string>;
  /** Copies a podman image into containerd's k8s.io namespace (what the kubelet sees). */
  importImage(image: string): Promise<void>;
  /** Stops everything, kills the Pods' containers, deletes the Node object and the temp dir. */
  stop(): Promise<void>;
}

export const LOCAL_NODE_NAME = 'agent-machine-node';
export const nodeUser = (nodeName: string): string => `system:node:${nodeName}`;

export async function startLocalNode(opts: LocalNodeOptions): Promise<LocalNode> {
  const log = opts.log ?? (() => {});
  const nodeName = opts.nodeName ?? LOCAL_NODE_NAME;
  for (const bin of ['kubelet', 'kube-scheduler', 'kube-controller-manager']) {
    if (!existsSync(join(opts.binDir, bin))) {
      throw new Error(`node: no ${bin} in ${opts.binDir} (scripts/ensure-node-runtime.sh builds it)`);
    }
  }
  const started = performance.now();
  const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000);
  // Kept short: containerd's socket path and the shims' must fit in 108 bytes.
  const tmp = await createOwnedTempDir('am-node-');
  const dir = tmp.path;
  const logs = join(dir, 'logs');
  const logPaths = {
    containerd: join(logs, 'containerd.log'),
    kubelet: join(logs, 'kubelet.log'),
    scheduler: join(logs, 'kube-scheduler.log'),
    controllerManager: join(logs, 'kube-controller-manager.log'),
  };
  const socket = join(dir, 'containerd.sock');
  const procs: SupervisedProcess[] = [];
  const admin = new KubeConfig();
  admin.loadFromFile(opts.adminKubeconfigPath);
  const core = admin.makeApiClient(CoreV1Api);
  const suffix = randomBytes(4).toString('hex');
  const address = nodeAddress(suffix);

  const teardown = async (): Promise<void> => {
    // The kubelet first (it would restart what is killed under it), then the Pods' containers:
    // they outlive containerd (their shims are separate processes) and hold mounts in dir.
    for (const p of [...procs].reverse().filter((p) => p.name !== 'containerd')) await p.stop();
    await killAllTasks(socket).catch((err) => log(`node: killing containers: ${err}`));
    for (const p of procs.filter((p) => p.name === 'containerd')) await p.stop();
    for (const link of [`am${suffix}`, address.link]) await run('ip', ['link', 'del', link]);
    await unmountUnder(dir);
    removeLinksInto('/var/log/containers', join(dir, 'pod-logs'));
    await core.deleteNode({ name: nodeName }).catch(() => {});
    tmp.remove();
  };

  try {
    await Promise.all(['logs', 'cni', 'containerd', 'state', 'kubelet', 'pod-logs', 'runc'].map((d) => mkdir(join(dir, d), { recursive: true })));
    await writeFile(join(dir, 'cni', '10-agent-machine.conflist'), JSON.stringify(nodeCniConflist(suffix, join(dir, 'ipam'))));
    await writeFile(
      join(dir, 'containerd.toml'),
      nodeContainerdConfig({ root: join(dir, 'containerd'), state: join(dir, 'state'), socket, pauseImage: opts.pauseImage, cniBinDir: opts.cniBinDir, cniConfDir: join(dir, 'cni'), runcRoot: join(dir, 'runc') }),
    );
    const containerd = spawnSupervised('containerd', 'containerd', ['--config', join(dir, 'containerd.toml')], { logPath: logPaths.containerd });
    procs.push(containerd);
    await waitFor('containerd', containerd, deadline, async () => (await run('ctr', ['--address', socket, 'version'])).code === 0);
    await Promise.all([opts.pauseImage, ...(opts.images ?? [])].map((image) => importImage(socket, image, opts.containersConf)));
    log(`node: containerd ready, images imported after ${Math.round(performance.now() - started)} ms`);

    await grantNodeRole(admin, nodeName);
    for (const args of [['link', 'add', address.link, 'type', 'bridge'], ['addr', 'add', `${address.ip}/32`, 'dev', address.link], ['link', 'set', address.link, 'up']]) {
      const r = await run('ip', args);
      if (r.code !== 0) throw new Error(`node: ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
    }
    const [kubeletPort, healthzPort, schedulerPort, cmPort] = (await freePorts(4)) as [number, number, number, number];
    await writeFile(
      join(dir, 'kubelet.yaml'),
      stringify(nodeKubeletConfig({ address: address.ip, socket, port: kubeletPort, healthzPort, podLogsDir: join(dir, 'pod-logs') })),
    );
    const kubelet = spawnSupervised(
      'kubelet',
      join(opts.binDir, 'kubelet'),
      [
        `--config=${join(dir, 'kubelet.yaml')}`,
        `--kubeconfig=${opts.kubeletKubeconfigPath}`,
        `--root-dir=${join(dir, 'kubelet')}`,
        `--cert-dir=${join(dir, 'kubelet', 'pki')}`,
        `--hostname-override=${nodeName}`,
        // The apiserver reaches the kubelet (logs, exec) at this address.
        `--node-ip=${address.ip}`,
        '--v=1',
      ],
      { logPath: logPaths.kubelet },
    );
    procs.push(kubelet);
    const common = [`--kubeconfig=${opts.adminKubeconfigPath}`, `--authentication-kubeconfig=${opts.adminKubeconfigPath}`, `--authorization-kubeconfig=${opts.adminKubeconfigPath}`, '--bind-address=127.0.0.1', '--leader-elect=false', '--v=1'];
    procs.push(spawnSupervised('kube-scheduler', join(opts.binDir, 'kube-scheduler'), [...common, `--secure-port=${schedulerPort}`], { logPath: logPaths.scheduler }));
    // nodelifecycle lifts the not-ready taint the kubelet registers with; the garbage collector
    // deletes what an owner reference ties to a deleted object; endpoints feed Services.
    const controllers = [
      'nodelifecycle',
      'garbagecollector',
      'endpoint',
      'endpointslice',
      ...(opts.serviceAccountKeyPath ? ['serviceaccount-token'] : []),
      ...(opts.rootCaFile ? ['root-ca-cert-publisher'] : []),
      ...(opts.extraControllers ?? []),
    ];
    procs.push(
      spawnSupervised(
        'kube-controller-manager',
        join(opts.binDir, 'kube-controller-manager'),
        [
          ...common,
          `--secure-port=${cmPort}`,
          `--controllers=${controllers.join(',')}`,
          '--use-service-account-credentials=false',
          ...(opts.serviceAccountKeyPath ? [`--service-account-private-key-file=${opts.serviceAccountKeyPath}`] : []),
          ...(opts.rootCaFile ? [`--root-ca-file=${opts.rootCaFile}`] : []),
        ],
        { logPath: logPaths.controllerManager },
      ),
    );
    let lastSeen = 'not registered';
    await waitFor('kubelet', kubelet, deadline, async () => {
      const node = await core.readNode({ name: nodeName }).catch(() => undefined);
      const r = nodeReadiness(node);
      lastSeen = r.detail;
      return r.ready;
    }, () => lastSeen);
    const startupMs = Math.round(performance.now() - started);
    log(`node: ${nodeName} Ready after ${startupMs} ms`);
    let stopped: Promise<void> | undefined;
    return {
      nodeName,
      address: address.ip,
      containerdSocket: socket,
      startupMs,
      logPaths,
      importImage: (image) => importImage(socket, image, opts.containersConf),
      stop() {
        stopped ??= teardown();
        return stopped;
      },
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** Binds the ClusterRole system:node to the node's user (the legacy RBAC way; no Node authorizer here). */
async function grantNodeRole(admin: KubeConfig, nodeName: string): Promise<void> {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const name = `agent-machine:node:${nodeName}`;
  const body = {
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: nodeUser(nodeName) }],
  };
  await rbac.createClusterRoleBinding({ body }).catch(async (err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  });
}

async function importImage(socket: string, image: string, containersConf: string | undefined): Promise<void> {
  // podman save | ctr import: no registry is reachable, and k8s.io is the namespace the CRI reads.
  const env = { ...process.env, ...(containersConf ? { CONTAINERS_CONF: containersConf } : {}) };
  const save = spawn('podman', ['save', image], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const imp = spawn('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  save.stdout.pipe(imp.stdin);
  let errors = '';
  save.stderr.on('data', (d) => (errors += d));
  imp.stderr.on('data', (d) => (errors += d));
  const codes = await Promise.all([save, imp].map((c) => new Promise<number>((resolve) => c.once('close', (code) => resolve(code ?? 1)))));
  if (codes.some((c) => c !== 0)) throw new Error(`node: importing ${image} into containerd failed: ${errors.trim()}`);
}

async function killAllTasks(socket: string): Promise<void> {
  if (!existsSync(socket)) return;
  const list = await run('ctr', ['--address', socket, '-n', 'k8s.io', 'tasks', 'ls', '-q']);
  const ids = list.stdout.split('\n').filter(Boolean);
  await Promise.all(
    ids.map(async (id) => {
      await run('ctr', ['--address', socket, '-n', 'k8s.io', 'tasks', 'kill', '-s', 'SIGKILL', id]);
      for (let i = 0; i < 50; i++) {
        if ((await run('ctr', ['--address', socket, '-n', 'k8s.io', 'tasks', 'delete', id])).code === 0) break;
        await sleep(100);
      }
    }),
  );
}

/** The kubelet links each container's log into a fixed folder; a killed kubelet leaves them. */
function removeLinksInto(folder: string, target: string): void {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(folder, name);
    try {
      if (readlinkSync(path).startsWith(`${target}/`)) rmSync(path);
    } catch {
      // not a link, or gone already
    }
  }
}

/** Unmounts (lazily, deepest first) everything mounted under dir: overlays, shm, netns, volumes. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]);
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

async function waitFor(
  name: string,
  proc: SupervisedProcess,
  deadline: number,
  check: () => Promise<boolean>,
  detail: () => string = () => '',
): Promise<void> {
  while (true) {
    if (proc.hasExited()) {
      const { code, signal } = await proc.exited;
      throw new Error(`node: ${name} exited during start-up (code ${code}, signal ${signal}). Last lines of its output:\n${proc.logTail()}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`node: ${name} not ready in time (${detail() || 'no detail'}). Last lines of its output:\n${proc.logTail()}`);
    }
    await sleep(200);
  }
}
