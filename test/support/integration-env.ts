// What an integration test file needs to reach the shared test environment. The runner
// (test/run-integration.ts) starts one kube-apiserver + etcd and one podman service for the
// whole run and hands their coordinates to the test processes through environment variables;
// this module reads them. Nothing here starts or fakes anything.
import { execFile } from 'node:child_process';
import { KubeConfig } from '@kubernetes/client-node';
import Docker from 'dockerode';
import type { LocalUser } from '../../src/dev/local-control-plane.ts';
import { LOCAL_NODE_NAME, nodeUser } from '../../src/dev/local-node.ts';

/** Users every integration run configures, besides the admin. */
export const TEST_USERS: readonly LocalUser[] = [
  { name: 'alice' },
  { name: 'bob' },
  // A GitOps service identity: the admission policy lets brokers act on behalf of delegators.
  { name: 'gitops-broker', groups: ['agent-machine:brokers'] },
  // Her RBAC comes only through a group: it counts when her delegations record the group.
  { name: 'carol', groups: ['agent-machine:ml-team'] },
];

/**
 * The identity of a test's real node (test/support/node.ts): its kubelet's token. The node
 * bound to it runs only while a test file that needs real Pods runs.
 */
export const NODE_USER: LocalUser = { name: nodeUser(LOCAL_NODE_NAME), groups: ['system:nodes'] };

export const BROKER_GROUP = 'agent-machine:brokers';

export const ENV = {
  /** kubeconfig of the admin (system:masters) */
  kubeconfig: 'AGENT_MACHINE_TEST_KUBECONFIG',
  /** prefix of per-user kubeconfigs: AGENT_MACHINE_TEST_KUBECONFIG_ALICE, ..._GITOPS_BROKER */
  kubeconfigUserPrefix: 'AGENT_MACHINE_TEST_KUBECONFIG_',
  /** gitVersion the apiserver reports */
  k8sVersion: 'AGENT_MACHINE_TEST_K8S_VERSION',
  /** unix socket of the Docker-compatible engine (podman system service) */
  dockerSocket: 'AGENT_MACHINE_TEST_DOCKER_SOCKET',
  /** version the engine reports */
  engineVersion: 'AGENT_MACHINE_TEST_ENGINE_VERSION',
  /** the sandbox image tests run */
  sandboxImage: 'AGENT_MACHINE_TEST_SANDBOX_IMAGE',
  /** the apiserver's audit log (JSON lines; metadata of ServiceAccount requests only) */
  apiserverAuditLog: 'AGENT_MACHINE_TEST_APISERVER_AUDIT_LOG',
  /** etcd's client URL, the control plane's data dir and its binaries: for a second apiserver (test/support/api-server-replica.ts) */
  etcdUrl: 'AGENT_MACHINE_TEST_ETCD_URL',
  controlPlaneDir: 'AGENT_MACHINE_TEST_CONTROL_PLANE_DIR',
  controlPlaneBinDir: 'AGENT_MACHINE_TEST_CONTROL_PLANE_BIN_DIR',
} as const;

export function kubeconfigEnvName(user: string): string {
  return ENV.kubeconfigUserPrefix + user.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: integration tests need the shared control plane and podman service. ` +
        'Run them with `make test-integration` (or `node test/run-integration.ts [test files]`), not with node --test directly.',
    );
  }
  return value;
}

/** Path of the admin kubeconfig, or of a test user's when user is given. */
export function kubeconfigPath(user?: string): string {
  return required(user === undefined ? ENV.kubeconfig : kubeconfigEnvName(user));
}

export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

export function kubeConfigFor(user: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath(user));
  return kc;
}

/** Where the shared control plane's etcd, data dir and binaries are. */
export function controlPlaneParts(): { etcdUrl: string; dataDir: string; binDir: string } {
  return { etcdUrl: required(ENV.etcdUrl), dataDir: required(ENV.controlPlaneDir), binDir: required(ENV.controlPlaneBinDir) };
}

export function k8sVersion(): string {
  return required(ENV.k8sVersion);
}

export function dockerSocket(): string {
  return required(ENV.dockerSocket);
}

export function engineVersion(): string {
  return required(ENV.engineVersion);
}

/** Path of the apiserver's audit log of ServiceAccount requests. */
export function apiserverAuditLogPath(): string {
  return required(ENV.apiserverAuditLog);
}

export function sandboxImage(): string {
  return process.env[ENV.sandboxImage] || 'localhost/agent-sandbox:dev';
}

export function docker(): Docker {
  return new Docker({ socketPath: dockerSocket() });
}

export interface KubectlOptions {
  /** A test user; the admin when absent. */
  user?: string;
  stdin?: string;
  /** Throw on a non-zero exit (default true). Pass false to assert on a failure. */
  check?: boolean;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the test control plane as the admin or as a test user. */
export function kubectl(args: readonly string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
  const path = kubeconfigPath(opts.user);
  const bin = process.env.KUBECTL || 'kubectl';
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      ['--kubeconfig', path, ...args],
      // KUBECONFIG pinned too, so no plugin or fallback can reach a real cluster.
      { env: { ...process.env, KUBECONFIG: path }, maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        const result = { code, stdout, stderr };
        if (code !== 0 && opts.check !== false) {
          reject(new Error(`kubectl ${args.join(' ')} exited ${code}:\n${stderr}`));
        } else {
          resolve(result);
        }
      },
    );
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
    else child.stdin?.end();
  });
}
