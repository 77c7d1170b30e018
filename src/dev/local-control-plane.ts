// A real Kubernetes control plane (etcd + kube-apiserver as local processes, no kubelet, no
// controller-manager), envtest style. It backs `agent-machine dev` and the integration tests,
// so both exercise the same API server behaviour a cluster has: RBAC, admission (including
// ValidatingAdmissionPolicy), CRDs, watches.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { freePorts } from './free-ports.ts';
import { createOwnedTempDir } from './owned-temp-dir.ts';
import type { OwnedTempDir } from './owned-temp-dir.ts';
import { spawnSupervised } from './supervised-process.ts';
import type { SupervisedProcess } from './supervised-process.ts';

/** A user authenticated by a static bearer token (the apiserver's --token-auth-file). */
export interface LocalUser {
  name: string;
  groups?: string[];
}

export interface LocalControlPlaneOptions {
  /** Folder holding `etcd` and `kube-apiserver` (see scripts/control-plane-binaries.sh). */
  binDir: string;
  /** Kept after stop() when given (etcd data survives restarts); a temp dir otherwise. */
  dataDir?: string;
  /** Users besides the admin, each with its own kubeconfig. They get no RBAC rights. */
  users?: LocalUser[];
  /** Secure port of the apiserver; a free one when absent. */
  port?: number;
  /** Default 90 s: the first start on a loaded 2-core machine takes several seconds. */
  startTimeoutMs?: number;
  /**
   * Write the apiserver's audit log (JSON lines). The default policy records only the metadata
   * of ServiceAccount requests, at their end: cheap enough for test runs, which use it to hold a
   * ServiceAccount's RBAC against the requests it actually made.
   */
  audit?: { logPath?: string; policy?: object };
  log?: (msg: string) => void;
}

export interface LocalControlPlane {
  /** https://127.0.0.1:PORT */
  server: string;
  /** http://127.0.0.1:PORT of etcd (its v3 JSON gateway too). */
  etcdUrl: string;
  /** Folder holding the etcd and kube-apiserver binaries. */
  binDir: string;
  /** gitVersion from /version, e.g. v1.33.13 */
  version: string;
  dataDir: string;
  /** Base64 PEM of the apiserver's self-signed CA, as in a kubeconfig's certificate-authority-data. */
  caData: string;
  adminKubeconfigPath: string;
  /** The kubeconfig of a configured user (or of LOCAL_ADMIN_USER). Throws for unknown users. */
  kubeconfigPathFor(user: string): string;
  /** Milliseconds from spawning etcd to a ready apiserver with the default namespace. */
  startupMs: number;
  logPaths: { etcd: string; apiserver: string };
  /** The apiserver's audit log, when `audit` was given. */
  auditLogPath?: string;
  /** Stops the apiserver, then etcd, waits for both to exit; removes the data dir if temporary. */
  stop(): Promise<void>;
}

/**
 * The admin identity: a member of system:masters, which RBAC always allows. The controller runs
 * as this user on a local control plane, so it is also a broker (agent-machine:brokers): it
 * creates an execution's container records on the delegator's behalf.
 */
export const LOCAL_ADMIN_USER = 'agent-machine-admin';
export const LOCAL_ADMIN_GROUPS = ['system:masters', 'agent-machine:brokers'];

const MAX_PORT_ATTEMPTS = 3;

/** Metadata of every request a ServiceAccount makes, once (no RequestReceived stage); nothing else. */
export const SERVICE_ACCOUNT_AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [{ level: 'Metadata', userGroups: ['system:serviceaccounts'] }, { level: 'None' }],
};

export async function startLocalControlPlane(opts: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      // Free ports are only free until someone else binds them; retry with fresh ones.
      const raced = err instanceof PortRaceError && opts.port === undefined && attempt < MAX_PORT_ATTEMPTS;
      if (!raced) throw err;
      opts.log?.(`control plane: port taken during start-up, retrying (${attempt})`);
    }
  }
}

class PortRaceError extends Error {}

async function startOnce(opts: LocalControlPlaneOptions): Promise<LocalControlPlane> {
  const log = opts.log ?? (() => {});
  for (const bin of ['etcd', 'kube-apiserver']) {
    if (!existsSync(join(opts.binDir, bin))) {
      throw new Error(`control plane: no ${bin} in ${opts.binDir} (scripts/control-plane-binaries.sh builds or locates it)`);
    }
  }
  const users: LocalUser[] = [{ name: LOCAL_ADMIN_USER, groups: LOCAL_ADMIN_GROUPS }, ...(opts.users ?? [])];
  const names = new Set<string>();
  for (const u of users) {
    if (names.has(u.name)) throw new Error(`control plane: user ${u.name} configured twice`);
    names.add(u.name);
  }

  const temporary = opts.dataDir === undefined;
  const tempDir = temporary ? await createOwnedTempDir('agent-machine-cp-') : undefined;
  const dataDir = opts.dataDir ?? (tempDir as OwnedTempDir).path;
  const pki = join(dataDir, 'pki');
  const logs = join(dataDir, 'logs');
  const kubeconfigs = join(dataDir, 'kubeconfigs');
  const etcdLog = join(logs, 'etcd.log');
  const apiserverLog = join(logs, 'kube-apiserver.log');
  let etcd: SupervisedProcess | undefined;
  let apiserver: ApiServer | undefined;
  const stopChildren = async (): Promise<void> => {
    // The apiserver first: stopping etcd under it makes it log storage errors while it drains.
    await apiserver?.stop();
    await etcd?.stop();
  };

  try {
    await Promise.all([pki, logs, kubeconfigs].map((d) => mkdir(d, { recursive: true })));
    const started = performance.now();
    const [etcdClientPort, etcdPeerPort, freeSecurePort] = (await freePorts(3)) as [number, number, number];
    const securePort = opts.port ?? freeSecurePort;
    const server = `https://127.0.0.1:${securePort}`;
    const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);

    const tokens = new Map(users.map((u) => [u.name, randomBytes(24).toString('base64url')]));
    const adminToken = tokens.get(LOCAL_ADMIN_USER) as string;
    await writeFile(join(dataDir, 'tokens.csv'), tokenFile(users, tokens), { mode: 0o600 });
    await ensureServiceAccountKeys(pki);
    const auditLogPath = opts.audit ? (opts.audit.logPath ?? join(logs, 'audit.log')) : undefined;
    const auditArgs: string[] = [];
    if (opts.audit && auditLogPath) {
      const policyPath = join(dataDir, 'audit-policy.yaml');
      await writeFile(policyPath, stringify(opts.audit.policy ?? SERVICE_ACCOUNT_AUDIT_POLICY, { version: '1.1' }));
      // blocking (the log backend's default, named because readers rely on it): each event is
      // written as its request ends, nothing is batched.
      auditArgs.push(`--audit-policy-file=${policyPath}`, `--audit-log-path=${auditLogPath}`, '--audit-log-format=json', '--audit-log-mode=blocking');
    }

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    etcd = spawnSupervised(
      'etcd',
      join(opts.binDir, 'etcd'),
      [
        '--name=default',
        `--data-dir=${join(dataDir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--listen-metrics-urls=',
        '--log-level=warn',
        // fsync dominates etcd latency on a shared disk; a throwaway store does not need it.
        ...(temporary ? ['--unsafe-no-fsync=true'] : []),
      ],
      { logPath: etcdLog },
    );
    await waitUntil('etcd', etcd, deadline, async () => {
      const res = await httpGet(`${etcdUrl}/health`);
      return res.status === 200 && /"health":\s*"true"/.test(res.body);
    });
    log(`control plane: etcd ready on ${etcdUrl} after ${Math.round(performance.now() - started)} ms`);

    apiserver = await startApiServer({ binDir: opts.binDir, dataDir, etcdUrl, port: securePort, adminToken, deadline, extraArgs: auditArgs });
    const caPem = apiserver.caPem;
    const versionRes = await httpGet(`${server}/version`, { ca: caPem, token: adminToken });
    const version = String((JSON.parse(versionRes.body) as { gitVersion?: unknown }).gitVersion);
    const startupMs = Math.round(performance.now() - started);
    log(`control plane: kube-apiserver ${version} ready at ${server} after ${startupMs} ms`);

    const caData = Buffer.from(caPem).toString('base64');
    const paths = new Map<string, string>();
    for (const u of users) {
      const path = join(kubeconfigs, `${u.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.kubeconfig`);
      await writeFile(path, kubeconfig(server, caData, u.name, tokens.get(u.name) as string), { mode: 0o600 });
      paths.set(u.name, path);
    }

    let stopped: Promise<void> | undefined;
    return {
      server,
      etcdUrl,
      binDir: opts.binDir,
      version,
      dataDir,
      caData,
      adminKubeconfigPath: paths.get(LOCAL_ADMIN_USER) as string,
      kubeconfigPathFor(user) {
        const p = paths.get(user);
        if (p === undefined) throw new Error(`control plane: no user ${user} (configured: ${[...paths.keys()].join(', ')})`);
        return p;
      },
      startupMs,
      logPaths: { etcd: etcdLog, apiserver: apiserverLog },
      ...(auditLogPath ? { auditLogPath } : {}),
      stop() {
        stopped ??= (async () => {
          await stopChildren();
          tempDir?.remove();
        })();
        return stopped;
      },
    };
  } catch (err) {
    const raced = err instanceof PortRaceError || (etcd?.hasExited() === true && /address already in use/.test(etcd.logTail(50)));
    await stopChildren();
    tempDir?.remove();
    if (raced && !(err instanceof PortRaceError)) throw new PortRaceError(err instanceof Error ? err.message : String(err));
    throw err;
  }
}

/** One kube-apiserver process over an etcd; stop() and start() again keep its port, certs and users. */
export interface ApiServer {
  /** https://127.0.0.1:PORT */
  server: string;
  /** The self-signed serving certificate (PEM), which is also the CA clients trust. */
  caPem: string;
  logPath: string;
  /**
   * SIGTERM, then SIGKILL after graceMs (default: the supervisor's), waits for the exit.
   * Idempotent. A terminating kube-apiserver keeps open watches until it is killed.
   */
  stop(graceMs?: number): Promise<void>;
  /** Starts the process again after stop(); resolves once it is ready. */
  start(): Promise<void>;
  isRunning(): boolean;
}

export interface ApiServerOptions {
  binDir: string;
  /** A control plane's data dir: pki/ (serving cert, service-account keys), tokens.csv, logs/. */
  dataDir: string;
  etcdUrl: string;
  port: number;
  /** Bearer token of a user that may read /readyz and the default namespace. */
  adminToken: string;
  /** Absolute time (ms) by which it must be ready; default 90 s from each start. */
  deadline?: number;
  /** Log file name under logs/ (default kube-apiserver). */
  name?: string;
  /** Appended to the flags, e.g. --watch-cache=false. */
  extraArgs?: string[];
}

/**
 * Starts kube-apiserver over `etcdUrl` with the control plane's certificates and users. A
 * second one over the same etcd and data dir is a second replica of the same cluster (an HA
 * control plane): tests restart it under a controller without disturbing the shared one.
 */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const pki = join(opts.dataDir, 'pki');
  const name = opts.name ?? 'kube-apiserver';
  const logPath = join(opts.dataDir, 'logs', `${name}.log`);
  const server = `https://127.0.0.1:${opts.port}`;
  const args = [
    `--etcd-servers=${opts.etcdUrl}`,
    '--bind-address=127.0.0.1',
    // Without it the apiserver advertises the host's default-route address, and its
    // self-signed serving certificate would not name 127.0.0.1.
    '--advertise-address=127.0.0.1',
    `--secure-port=${opts.port}`,
    // Kept across restarts (and shared by replicas): the certificate is generated once, so
    // kubeconfigs stay valid.
    `--cert-dir=${pki}`,
    `--token-auth-file=${join(opts.dataDir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    `--service-account-key-file=${join(pki, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
    `--service-account-issuer=${server}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    // No controller-manager creates the "default" ServiceAccount, and this plugin rejects
    // Pods whose ServiceAccount does not exist: the kubernetes-runtime tests create Pods.
    '--disable-admission-plugins=ServiceAccount',
    // Explicit although default-on in 1.33: the governance design depends on it.
    '--enable-admission-plugins=ValidatingAdmissionPolicy',
    '--allow-privileged=true',
    // The bootstrap controller would publish 127.0.0.1 as the endpoint of the "kubernetes"
    // Service, which endpoint validation rejects (loopback), logging errors forever.
    '--endpoint-reconciler-type=none',
    // A local node (src/dev/local-node.ts) registers under a name nothing resolves: logs and
    // exec reach its kubelet by its InternalIP.
    '--kubelet-preferred-address-types=InternalIP,Hostname',
    ...(opts.extraArgs ?? []),
  ];
  const servingCert = join(pki, 'apiserver.crt');
  let proc: SupervisedProcess | undefined;
  let ca: string | undefined;

  const start = async (deadline: number): Promise<void> => {
    if (proc && !proc.hasExited()) return;
    proc = spawnSupervised(name, join(opts.binDir, 'kube-apiserver'), args, { logPath });
    const p = proc;
    try {
      await waitUntil(name, p, deadline, async () => {
        // The apiserver writes its self-signed CA + serving cert before it listens.
        if (ca === undefined) {
          if (!existsSync(servingCert)) return false;
          ca = await readFile(servingCert, 'utf8');
        }
        const ready = await httpGet(`${server}/readyz`, { ca, token: opts.adminToken });
        if (ready.status !== 200) return false;
        // "default" and "kube-system" come from the apiserver's own bootstrap controller (there
        // is no controller-manager); tests and the dev command expect them.
        const ns = await httpGet(`${server}/api/v1/namespaces/default`, { ca, token: opts.adminToken });
        return ns.status === 200;
      });
    } catch (err) {
      const raced = p.hasExited() && /address already in use/.test(p.logTail(50));
      await p.stop();
      if (raced) throw new PortRaceError(err instanceof Error ? err.message : String(err));
      throw err;
    }
  };

  await start(opts.deadline ?? Date.now() + 90_000);
  return {
    server,
    caPem: ca as string,
    logPath,
    stop: async (graceMs?: number) => {
      await proc?.stop(graceMs);
    },
    start: () => start(Date.now() + 90_000),
    isRunning: () => proc !== undefined && !proc.hasExited(),
  };
}

/** Polls check until it returns true; fails early with the log tail if the process exits. */
async function waitUntil(
  name: string,
  proc: SupervisedProcess,
  deadline: number,
  check: () => Promise<boolean>,
): Promise<void> {
  let lastError = '';
  while (true) {
    if (proc.hasExited()) {
      const { code, signal } = await proc.exited;
      throw new Error(
        `${name} exited during start-up (code ${code}, signal ${signal}). Last lines of its output:\n${proc.logTail()}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${name} not ready in time (last error: ${lastError || 'none'}). Last lines of its output:\n${proc.logTail()}`,
      );
    }
    await sleep(100);
  }
}

async function ensureServiceAccountKeys(pki: string): Promise<void> {
  // Reused across restarts of a persistent data dir, so tokens minted earlier stay valid.
  if (existsSync(join(pki, 'sa.key')) && existsSync(join(pki, 'sa.pub'))) return;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  await writeFile(join(pki, 'sa.key'), privateKey, { mode: 0o600 });
  await writeFile(join(pki, 'sa.pub'), publicKey);
}

function tokenFile(users: LocalUser[], tokens: Map<string, string>): string {
  // token,user,uid[,"group1,group2"]
  return users
    .map((u) => {
      const row = [tokens.get(u.name), u.name, u.name];
      if (u.groups?.length) row.push(`"${u.groups.join(',')}"`);
      return row.join(',');
    })
    .join('\n')
    .concat('\n');
}

function kubeconfig(server: string, caData: string, user: string, token: string): string {
  const name = 'agent-machine-local';
  return stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name, cluster: { server, 'certificate-authority-data': caData } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: `${user}@${name}`, context: { cluster: name, user, namespace: 'default' } }],
      'current-context': `${user}@${name}`,
    },
    { lineWidth: 0, version: '1.1' },
  );
}

interface HttpResult {
  status: number;
  body: string;
}

/** GET with a bounded wait: https (with the CA and a bearer token) for the apiserver, http for etcd. */
function httpGet(url: string, tls?: { ca: string; token: string }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const req = tls
      ? request(url, { ca: tls.ca, headers: { authorization: `Bearer ${tls.token}` }, timeout: 5_000 }, onResponse)
      : httpRequest(url, { timeout: 5_000 }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}
