// The controller process: builds the shared operator machinery, the governance pieces and one
// controller per kind, and hands them to the Manager (informers, leader election, health and
// metrics, graceful shutdown). `agent-machine controller` and `agent-machine dev` both run this.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { AgentMachineProfile, ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { createKubeClients, describeError, type KubeClients } from '../operator/kube-clients.ts';
import { Informer } from '../operator/informer.ts';
import { Manager } from '../operator/manager.ts';
import { StatusWriter } from '../operator/status-writer.ts';
import { EventRecorder } from '../operator/events.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import { countRequests } from '../operator/request-counting.ts';
import { AccessReviewer } from '../governance/access-review.ts';
import { NamespaceTenants } from '../reconcilers/namespace-tenants.ts';
import { AuditLog } from '../governance/audit-log.ts';
import { describeSource, type AuditSource } from '../governance/audit-source.ts';
import type { AuditStore } from '../governance/audit-store.ts';
import { ClusterAuditStore } from '../governance/cluster-audit-store.ts';
import { AdmissionGuard } from '../reconcilers/admission-guard.ts';
import { Authorizer } from '../reconcilers/authorization.ts';
import { CommandRecorder } from '../reconcilers/command-recorder.ts';
import { CelSandbox } from '../governance/cel-sandbox.ts';
import type { ReconcilerDeps } from '../reconcilers/deps.ts';
import { profileController } from '../reconcilers/profile-reconciler.ts';
import { toolGrantController } from '../reconcilers/tool-grant-reconciler.ts';
import { containerController } from '../reconcilers/container-reconciler.ts';
import { orphanSweeper } from '../reconcilers/orphan-sweeper.ts';
import { leaderPodLabel, podFromEnv, setLeaderLabel } from './leader-pod-label.ts';
import { executionController } from '../reconcilers/execution-reconciler.ts';
import type { AgentMachineDiagnosticBundle } from '../api/types.generated.ts';
import { diagnosticBundleController } from '../reconcilers/diagnostic-bundle-reconciler.ts';
import { modelBindingController } from '../reconcilers/model-binding-reconciler.ts';
import { CredentialCache } from '../gateway/credentials.ts';
import { startGateway, type RunningGateway } from '../gateway/gateway.ts';
import { hostsResolver, parseHostsFile } from '../gateway/egress-hosts.ts';
import { OciRegistry } from '../outputs/oci-registry.ts';
import { OutputStore } from '../outputs/output-store.ts';
import type { RetentionPolicy } from '../outputs/retention.ts';
import { outputRetentionSweeper } from '../outputs/retention-sweeper.ts';
import { PromptMemory } from '../gateway/prompt-memory.ts';
import { followPromptLifetime } from '../reconcilers/prompt-lifetime.ts';
import { gatewayTokenController } from '../reconcilers/gateway-token-reconciler.ts';
import type { ContainerRuntime } from '../runtimes/container-runtime.ts';
import { DockerRuntime } from '../runtimes/docker/docker-runtime.ts';
import { KubernetesRuntime } from '../runtimes/kubernetes/kubernetes-runtime.ts';

export interface ControllerConfig {
  kubeConfig: KubeConfig;
  /** Watch only this namespace (namespaced kinds); all namespaces when absent. */
  namespace?: string;
  /** host:port of /metrics, /healthz, /readyz; port 0 picks a free one. */
  metricsAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  auditLogPath: string;
  /** file: the hash-chained log at auditLogPath; cluster: immutable ConfigMap segments in leaderElectionNamespace. */
  auditStore?: 'file' | 'cluster';
  /** Cluster store: most entries per segment (default 500). */
  auditSegmentEntries?: number;
  /** Cluster store: entries kept in segments before older ones are compacted into a checkpoint (0: keep all). */
  auditRetainEntries?: number;
  resyncSeconds: number;
  /** Where containers run unless a record names a runtime. */
  runtime: ContainerRuntime['kind'];
  /** unix socket of the Docker-compatible engine (podman or dockerd) for the docker runtime. */
  dockerSocket?: string;
  /** host:port the model gateway listens on (port 0 picks a free one); no gateway when absent. */
  gatewayAddress?: string;
  /** Internal podman/Docker network gateway-only containers join to reach the gateway (docker runtime). */
  gatewayNetwork?: string;
  /** A hosts file the egress proxy resolves from before DNS (egress-hosts.ts). */
  egressHostsPath?: string;
  /** Image of the collector container in Pods with declared outputs (kubernetes runtime). */
  kubernetesCollectorImage?: string;
  /** The OCI registry finished records' declared outputs are pushed to (http(s)://host[:port]). */
  outputRegistry?: string;
  /** Its pull/push credentials (a Secret's username and password in the cluster install). */
  outputRegistryCredentials?: { username: string; password: string };
  /** Retention of stored outputs (outputs/retention.ts); unset: nothing is deleted. */
  outputRetention?: RetentionPolicy;
  /** The gateway URL containers are given, when the default (per runtime and network) does not reach it. */
  gatewayAdvertiseUrl?: string;
  logger?: Logger;
  /** Install SIGTERM/SIGINT handlers that shut down and exit (default true). */
  handleSignals?: boolean;
  exit?: (code: number) => void;
}

export interface RunningController {
  manager: Manager;
  audit: AuditStore;
  gateway?: RunningGateway;
  stop(): Promise<void>;
}

/** The audit store the controller appends to: the file, or the chain in the API server. */
async function openAuditStore(source: AuditSource, metrics: ReturnType<typeof createMetrics>, logger: Logger, sizes: { segmentEntries?: number; retainEntries?: number } = {}): Promise<AuditStore> {
  if (source.kind === 'cluster') {
    return ClusterAuditStore.open({
      clients: source.clients,
      namespace: source.namespace,
      onBacklog: (n) => metrics.auditBacklog.set(n),
      ...(sizes.segmentEntries ? { maxEntries: sizes.segmentEntries } : {}),
      ...(sizes.retainEntries !== undefined ? { retainEntries: sizes.retainEntries } : {}),
      onCompaction: (r) => ('error' in r ? logger.error({ error: r.error }, 'audit compaction failed; retried later') : r.checkpoint && logger.info({ lastSeq: r.checkpoint.lastSeq, deleted: r.deleted }, 'audit segments compacted into a checkpoint')),
    });
  }
  mkdirSync(path.dirname(source.path), { recursive: true });
  return AuditLog.open(source.path, {
    recoverTornTail: true,
    onRecovered: (fragment) => logger.warn({ fragment }, 'audit log ended in a torn line (a crash mid-write); it was never acknowledged and was moved aside'),
  });
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`address ${address} is not host:port`);
  return { host: m[1] === '' ? '0.0.0.0' : m[1]!, port: Number(m[2]) };
}

export async function startController(cfg: ControllerConfig): Promise<RunningController> {
  const logger = cfg.logger ?? createLogger();
  const clients = createKubeClients(cfg.kubeConfig);
  const metrics = createMetrics();
  countRequests(cfg.kubeConfig, (l) => metrics.apiRequests.inc({ verb: l.verb, resource: l.resource }));
  const auditSource: AuditSource = cfg.auditStore === 'cluster' ? { kind: 'cluster', clients, namespace: cfg.leaderElectionNamespace } : { kind: 'file', path: cfg.auditLogPath };
  const audit = await openAuditStore(auditSource, metrics, logger, { ...(cfg.auditSegmentEntries !== undefined ? { segmentEntries: cfg.auditSegmentEntries } : {}), ...(cfg.auditRetainEntries !== undefined ? { retainEntries: cfg.auditRetainEntries } : {}) });
  const resyncPeriodMs = cfg.resyncSeconds * 1000;
  const outputRegistry = cfg.outputRegistry ? new OciRegistry({ url: cfg.outputRegistry, ...(cfg.outputRegistryCredentials ?? {}) }) : undefined;

  const events = new EventRecorder(clients, { logger });
  // One CEL worker for every reconciler and the gateway; closed when the controller stops.
  const celSandbox = new CelSandbox();
  // Forwarded prompt texts (fingerprints, memory only): the gateway adds, the reconcilers redact.
  const prompts = new PromptMemory();
  const deps: ReconcilerDeps = {
    clients,
    informers: {
      profiles: new Informer<AgentMachineProfile>(clients, RESOURCES.AgentMachineProfile, { resyncPeriodMs, logger }),
      grants: new Informer<ToolGrantRecord>(clients, RESOURCES.ToolGrantRecord, { namespace: cfg.namespace, resyncPeriodMs, logger }),
      containers: new Informer<ContainerExecutionRecord>(clients, RESOURCES.ContainerExecutionRecord, { namespace: cfg.namespace, resyncPeriodMs, logger }),
      executions: new Informer<LocalAgentExecution>(clients, RESOURCES.LocalAgentExecution, { namespace: cfg.namespace, resyncPeriodMs, logger }),
      bundles: new Informer<AgentMachineDiagnosticBundle>(clients, RESOURCES.AgentMachineDiagnosticBundle, { namespace: cfg.namespace, resyncPeriodMs, logger }),
      bindings: new Informer<ModelProviderBinding>(clients, RESOURCES.ModelProviderBinding, { namespace: cfg.namespace, resyncPeriodMs, logger }),
    },
    runtimes: {
      docker: new DockerRuntime({ ...(cfg.dockerSocket ? { socketPath: cfg.dockerSocket } : {}), ...(cfg.gatewayNetwork ? { gatewayNetwork: cfg.gatewayNetwork } : {}), owner: await clusterUid(clients, logger), logger }),
      kubernetes: new KubernetesRuntime({ clients, logger, ...(cfg.kubernetesCollectorImage ? { collectorImage: cfg.kubernetesCollectorImage } : {}) }),
    },
    defaultRuntime: cfg.runtime,
    // Each status write goes into its informer's cache at once (read-your-writes): see Informer.observe.
    status: new StatusWriter(clients, { logger, onWritten: (type, obj) => Object.values(deps.informers).find((i) => i.type === type)?.observe(obj as never) }),
    recorder: new CommandRecorder(audit, events),
    authorizer: new Authorizer(new AdmissionGuard(clients), new AccessReviewer(clients.authorization), new NamespaceTenants(clients)),
    celSandbox,
    metrics,
    logger,
    clock: () => new Date(),
    prompts,
    ...(outputRegistry ? { outputs: new OutputStore(outputRegistry) } : {}),
  };
  followPromptLifetime(prompts, deps.informers.executions, deps.informers.containers);

  const manager = new Manager({
    clients,
    logger,
    metrics,
    health: parseAddress(cfg.metricsAddress),
    leaderElection: cfg.leaderElect
      ? {
          namespace: cfg.leaderElectionNamespace,
          name: cfg.leaderElectionName ?? 'agent-machine-controller',
          leaseDurationMs: cfg.leaseDurationMs,
          renewDeadlineMs: cfg.renewDeadlineMs,
          retryPeriodMs: cfg.retryPeriodMs,
        }
      : false,
    handleSignals: cfg.handleSignals,
    exit: cfg.exit,
  });
  if (outputRegistry && cfg.outputRetention && (cfg.outputRetention.provisionalMs !== undefined || cfg.outputRetention.admittedMs !== undefined)) {
    manager.addRunnable(outputRetentionSweeper(outputRegistry, cfg.outputRetention, logger));
  }
  const credentials = new CredentialCache(clients);
  manager.add(profileController(deps)).add(toolGrantController(deps)).add(executionController(deps)).add(containerController(deps)).add(modelBindingController(deps, { credentials }));
  manager.addRunnable(orphanSweeper(deps, { namespace: cfg.namespace }));
  // Shut down after the controllers: what their last reconciles recorded is written too.
  manager.addRunnable(events);
  const pod = podFromEnv();
  if (pod) {
    await setLeaderLabel(clients, pod, false, logger);
    manager.addRunnable(leaderPodLabel(clients, pod, logger));
  }
  manager.add(diagnosticBundleController(deps, { audit: auditSource, controllerConfig: { ...cfg } }));
  let gateway: RunningGateway | undefined;
  if (cfg.gatewayAddress !== undefined && cfg.gatewayAddress !== '') {
    const { host, port } = parseAddress(cfg.gatewayAddress);
    gateway = await startGateway({
      clients,
      informers: { executions: deps.informers.executions, bindings: deps.informers.bindings, profiles: deps.informers.profiles, grants: deps.informers.grants },
      authority: { authorizer: deps.authorizer, recorder: deps.recorder },
      logger,
      metrics,
      host,
      port,
      namespace: cfg.namespace,
      resyncPeriodMs,
      credentials,
      celSandbox,
      prompts,
      audit,
      ...(cfg.egressHostsPath ? { resolve: egressResolver(cfg.egressHostsPath) } : {}),
      ...(cfg.gatewayNetwork ? { gatewayNetwork: cfg.gatewayNetwork } : {}),
      ...(cfg.gatewayAdvertiseUrl ? { advertiseUrl: cfg.gatewayAdvertiseUrl } : {}),
    });
    deps.gatewayEnv = gateway.env;
    manager.add(gatewayTokenController({ ...gateway, executions: deps.informers.executions, profiles: deps.informers.profiles, logger, metrics }));
  }
  await manager.start();
  logger.info({ metrics: manager.healthUrl, audit: describeSource(auditSource), leaderElect: cfg.leaderElect }, 'agent-machine controller started');
  return {
    manager,
    audit,
    ...(gateway ? { gateway } : {}),
    async stop() {
      await manager.shutdown();
      await audit.close();
      celSandbox.close();
    },
  };
}

/**
 * The UID of the kube-system namespace: the conventional identity of a cluster. Containers on a
 * shared engine are labelled with it so orphan removal only touches this cluster's.
 */
async function clusterUid(clients: KubeClients, logger: Logger): Promise<string> {
  try {
    const ns = await clients.core.readNamespace({ name: 'kube-system' });
    if (ns.metadata?.uid) return ns.metadata.uid;
  } catch (err) {
    logger.warn({ err: describeError(err) }, 'cannot read namespace kube-system to identify the cluster; containers are labelled with the API server address instead');
  }
  return `server-${createHash('sha256').update(clients.kubeConfig.getCurrentCluster()?.server ?? '').digest('hex').slice(0, 16)}`;
}

/** The egress proxy's resolver with the operator's hosts file; a file that does not parse stops the start. */
function egressResolver(file: string) {
  const { hosts, problems } = parseHostsFile(readFileSync(file, 'utf8'));
  if (problems.length > 0) throw new Error(`--egress-hosts ${file}: ${problems.slice(0, 5).join('; ')}`);
  return hostsResolver(hosts);
}
