// `agent-machine dev` (make run): the embedded default. Uses the cluster of the kubeconfig when
// it answers, otherwise starts a local control plane; installs manifests/; uses DOCKER_HOST when
// it answers, otherwise starts a private podman service. Everything it starts, it stops.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import Docker from 'dockerode';
import { TENANT_LABEL } from '../governance/tenancy.ts';
import { createKubeClients } from '../operator/kube-clients.ts';
import type { Logger } from '../observability/logger.ts';
import { startLocalControlPlane, type LocalControlPlane } from './local-control-plane.ts';
import { LOCAL_NODE_NAME, nodeUser, startLocalNode, type LocalNode } from './local-node.ts';
import { startRegistryService, type RegistryService } from './registry-service.ts';
import { dockerHostAnswers, socketPathFromDockerHost, startPodmanService, type PodmanService } from './podman-service.ts';
import { MANIFESTS_DIR, kubectlBinary, runProjectScript } from './project.ts';

const run = promisify(execFile);

/** The user `make run` hands you a kubeconfig for: the delegator the examples name. */
export const DEV_USER = 'alice';

export interface DevEnvironment {
  kubeconfigPath: string;
  /** Kubeconfig to give the person at the keyboard (alice's on a local control plane). */
  userKubeconfigPath: string;
  kubectl: string;
  dockerSocket: string;
  /** Internal network gateway-only containers join to reach the gateway (created if missing). */
  gatewayNetwork?: string;
  /** The local OCI registry declared outputs go to (started here unless one was given). */
  outputRegistry?: string;
  local: boolean;
  /** The local node, when asked for (`--runtime kubernetes` on a local control plane). */
  node?: LocalNode;
  stop(): Promise<void>;
}

/** The sandbox image scripts/ensure-podman.sh builds; the examples run it. */
export const DEV_SANDBOX_IMAGE = process.env.AGENT_MACHINE_SANDBOX_IMAGE || 'localhost/agent-sandbox:dev';

export async function clusterAnswers(kc: KubeConfig, timeoutMs = 3_000): Promise<boolean> {
  try {
    await createKubeClients(kc).request({ method: 'GET', path: '/version', signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}

export async function startDevEnvironment(opts: {
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  dataDir: string;
  log: Logger;
  outputRegistry?: string;
  /** Start a local node (src/dev/local-node.ts) when the control plane is local: Pods run. */
  node?: boolean;
}): Promise<DevEnvironment> {
  const { log } = opts;
  let controlPlane: LocalControlPlane | undefined;
  let node: LocalNode | undefined;
  let podman: PodmanService | undefined;
  let registry: RegistryService | undefined;
  const stop = async (): Promise<void> => {
    // The node first: it deletes its Node object through the control plane.
    await node?.stop().catch(() => {});
    await Promise.allSettled([podman?.stop(), controlPlane?.stop(), registry?.stop()]);
  };
  const kubeletUser = nodeUser(LOCAL_NODE_NAME);
  try {
    let kubeconfigPath = opts.kubeconfigPath;
    let userKubeconfigPath = opts.kubeconfigPath;
    let binDir: string | undefined;
    if (opts.kubeConfig && kubeconfigPath && (await clusterAnswers(opts.kubeConfig))) {
      log.info({ server: opts.kubeConfig.getCurrentCluster()?.server }, 'using the cluster of the kubeconfig');
    } else {
      if (kubeconfigPath) log.warn({ kubeconfig: kubeconfigPath }, 'the kubeconfig does not answer; starting a local control plane instead');
      binDir = runProjectScript('control-plane-binaries.sh');
      const dataDir = path.join(opts.dataDir, 'control-plane');
      mkdirSync(dataDir, { recursive: true });
      const users = [{ name: DEV_USER }, ...(opts.node ? [{ name: kubeletUser, groups: ['system:nodes'] }] : [])];
      controlPlane = await startLocalControlPlane({ binDir, dataDir, users, log: (m) => log.debug(m) });
      log.info({ version: controlPlane.version, server: controlPlane.server, ms: controlPlane.startupMs }, 'local control plane ready');
      kubeconfigPath = controlPlane.adminKubeconfigPath;
      userKubeconfigPath = controlPlane.kubeconfigPathFor(DEV_USER);
    }
    const kubectl = kubectlBinary(binDir);
    const k = (args: string[]) => run(kubectl, ['--kubeconfig', kubeconfigPath!, ...args], { maxBuffer: 16 * 1024 * 1024 });
    // Everything but the in-cluster controller (manifests/controller): this process runs the
    // controller, and a second one in the cluster would reconcile the same objects.
    await k(['apply', '--server-side', '--force-conflicts', '-k', MANIFESTS_DIR, '-l', 'app.kubernetes.io/component!=controller']);
    await k(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=agent-machine']);
    // kubectl caches discovery per server (shared by every user); the install above cached it
    // before the CRDs existed, and the user's first `kubectl get agent-machine` would fail.
    await k(['api-resources', '-o', 'name']);
    if (controlPlane) {
      // On the local control plane, alice may delegate (manifests/rbac/delegator-clusterrole.yaml).
      await applyStdin(kubectl, kubeconfigPath!, JSON.stringify(clusterRoleBinding('agent-machine-delegator', DEV_USER)));
      // ... and fetch the diagnostics bundles the README shows (manifests/rbac/diagnostics-reader-clusterrole.yaml).
      await applyStdin(kubectl, kubeconfigPath!, JSON.stringify(clusterRoleBinding('agent-machine-diagnostics-reader', DEV_USER)));
      // The tenant examples' namespace, labelled as an administrator would (examples/tenants/).
      await applyStdin(kubectl, kubeconfigPath!, JSON.stringify(tenantNamespace(DEV_TENANT_NAMESPACE)));
    }
    log.info('installed CRDs, admission policy and RBAC from manifests/');

    let dockerSocket = socketPathFromDockerHost(process.env.DOCKER_HOST);
    if (!dockerSocket || !(await dockerHostAnswers(process.env.DOCKER_HOST))) {
      const containersConf = runProjectScript('ensure-podman.sh');
      const socketDir = path.join(opts.dataDir, 'podman');
      mkdirSync(socketDir, { recursive: true });
      podman = await startPodmanService({ containersConf, socketDir });
      dockerSocket = podman.socketPath;
      log.info({ socket: podman.socketPath }, 'podman API service ready');
    }
    const gatewayNetwork = await ensureGatewayNetwork(dockerSocket, log);
    if (opts.node && controlPlane) {
      const [nodeBinDir, cniBinDir, pauseImage] = runProjectScript('ensure-node-runtime.sh').split('\n') as [string, string, string];
      const pki = path.join(opts.dataDir, 'control-plane', 'pki');
      node = await startLocalNode({
        binDir: nodeBinDir,
        cniBinDir,
        pauseImage,
        images: [DEV_SANDBOX_IMAGE],
        containersConf: runProjectScript('ensure-podman.sh'),
        adminKubeconfigPath: controlPlane.adminKubeconfigPath,
        kubeletKubeconfigPath: controlPlane.kubeconfigPathFor(kubeletUser),
        serviceAccountKeyPath: path.join(pki, 'sa.key'),
        rootCaFile: path.join(pki, 'apiserver.crt'),
        log: (m) => log.debug(m),
      });
      log.info({ node: node.nodeName, address: node.address, ms: node.startupMs, images: [DEV_SANDBOX_IMAGE] }, 'local node ready: Pods of the kubernetes runtime run here');
    } else if (opts.node) {
      log.warn('--runtime kubernetes with a cluster of your own: no local node is started; its nodes run the Pods');
    }
    let outputRegistry = opts.outputRegistry;
    if (!outputRegistry) {
      // Outputs outlive their containers only in a registry: a real one, kept under the data dir.
      registry = await startRegistryService({ binPath: runProjectScript('ensure-registry.sh'), dataDir: path.join(opts.dataDir, 'registry') });
      outputRegistry = registry.url;
      log.info({ url: registry.url, ms: registry.startupMs }, 'OCI registry for outputs ready');
    }
    return { kubeconfigPath: kubeconfigPath!, userKubeconfigPath: userKubeconfigPath!, kubectl, dockerSocket, ...(gatewayNetwork ? { gatewayNetwork } : {}), outputRegistry, local: controlPlane !== undefined, ...(node ? { node } : {}), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export const DEV_GATEWAY_NETWORK = 'agent-machine-gateway';

/**
 * gateway-only agents have no egress but must reach the model gateway: an internal network
 * (no route out) whose bridge address is the host's. Best effort: without it those agents
 * simply cannot call the gateway, which fails closed.
 */
async function ensureGatewayNetwork(socketPath: string, log: Logger): Promise<string | undefined> {
  const docker = new Docker({ socketPath });
  try {
    await docker.createNetwork({ Name: DEV_GATEWAY_NETWORK, Internal: true, Driver: 'bridge' });
  } catch (err) {
    const code = (err as { statusCode?: number }).statusCode;
    // podman answers 500 "already exists" where Docker answers 409.
    if (code !== 409 && !/exists/i.test(String((err as Error).message))) {
      log.warn({ err: String(err) }, 'could not create the gateway network: gateway-only agents cannot reach the gateway');
      return undefined;
    }
  }
  return DEV_GATEWAY_NETWORK;
}

/** The namespace of the example tenant: only a namespace labelled with a tenant may hold its objects. */
export const DEV_TENANT_NAMESPACE = { name: 'team-acme', tenant: 'acme' } as const;

function tenantNamespace(ns: { name: string; tenant: string }): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: { [TENANT_LABEL]: ns.tenant, 'app.kubernetes.io/part-of': 'agent-machine' } } };
}

function clusterRoleBinding(role: string, user: string): object {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `${role}-${user}`, labels: { 'app.kubernetes.io/part-of': 'agent-machine' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  };
}

function applyStdin(kubectl: string, kubeconfig: string, manifest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(kubectl, ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], (err) => (err ? reject(err) : resolve()));
    child.stdin?.end(manifest);
  });
}
