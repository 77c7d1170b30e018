import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../../observability/logger.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { parseDuration } from '../lifecycle.ts';
import { DEFAULT_COLLECTOR_IMAGE } from '../../runtimes/kubernetes/pod.ts';

export function defaultAuditLogPath(): string {
  const state = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return process.env.AGENT_MACHINE_AUDIT_LOG || path.join(state, 'agent-machine', 'audit.jsonl');
}

/** Options the controller and dev commands share. */
export function addControllerOptions(cmd: Command, defaults: { metricsAddress: string; leaderElect: boolean; logFormat: 'json' | 'dev' }): Command {
  return cmd
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('-n, --namespace <namespace>', 'watch only this namespace (default: all)')
    .option('--metrics-bind-address <host:port>', 'address of /metrics, /healthz and /readyz', defaults.metricsAddress)
    .option('--leader-elect', 'elect a leader on a Lease so only one replica reconciles', defaults.leaderElect)
    .option('--no-leader-elect', 'reconcile without leader election (single replica)')
    .option('--leader-election-namespace <namespace>', 'namespace of the leader election Lease', 'agent-machine-system')
    .option('--leader-elect-lease-duration <seconds>', 'how long a standby waits without a renewal before taking over', seconds, 15)
    .option('--leader-elect-renew-deadline <seconds>', 'how long the leader retries renewing before it gives up', seconds, 10)
    .option('--leader-elect-retry-period <seconds>', 'interval between acquire/renew attempts', seconds, 2)
    .addOption(new Option('--runtime <runtime>', 'where containers run unless a record names a runtime').choices(['docker', 'kubernetes']).default('docker'))
    .option('--docker-host <unix://path>', 'Docker-compatible engine API (podman or dockerd) for the docker runtime', process.env.DOCKER_HOST)
    .option('--gateway-bind-address <host:port>', 'address of the model gateway and tool decision endpoint (port 0 picks a free one; "" turns it off)', ':0')
    .option('--gateway-network <name>', 'internal podman/Docker network gateway-only containers join to reach the gateway (docker runtime)')
    .option('--gateway-advertise-url <url>', 'gateway URL given to containers when the default for their runtime and network does not reach it')
    .option('--egress-hosts <file>', 'hosts file (ADDRESS NAME... lines) the egress proxy resolves from before DNS')
    .addOption(new Option('--output-registry <url>', 'OCI registry (http(s)://host[:port]) declared outputs are pushed to when a container ends; without it outputs are not kept. Credentials: $AGENT_MACHINE_OUTPUT_REGISTRY_USERNAME, $AGENT_MACHINE_OUTPUT_REGISTRY_PASSWORD').env('AGENT_MACHINE_OUTPUT_REGISTRY'))
    .option('--kubernetes-collector-image <image>', 'image of the collector container that Pods with declared outputs get (kubernetes runtime; needs sh, sleep and tar)', DEFAULT_COLLECTOR_IMAGE)
    .addOption(new Option('--output-retention <duration>', 'delete provisional outputs (stored, not admitted by artifactAccess) older than this, e.g. 72h (default: kept)').env('AGENT_MACHINE_OUTPUT_RETENTION').argParser(retention))
    .addOption(new Option('--admitted-output-retention <duration>', 'delete admitted outputs older than this (default: kept; deleting an execution never deletes them)').env('AGENT_MACHINE_ADMITTED_OUTPUT_RETENTION').argParser(retention))
    .option('--audit-log <path>', 'append-only, hash-chained audit log (JSONL) of --audit-store file', defaultAuditLogPath())
    .addOption(new Option('--audit-store <store>', 'where the audit chain is kept: file (--audit-log), or cluster (immutable ConfigMap segments in --leader-election-namespace: survives Pods and failover)').choices(['file', 'cluster']).default('file'))
    .option('--audit-segment-entries <n>', 'most audit entries per segment ConfigMap (--audit-store cluster)', count, 500)
    .option('--audit-retain-entries <n>', 'audit entries kept in segments; older whole segments are compacted into a checkpoint and deleted (0 keeps all; --audit-store cluster)', count, 50_000)
    .option('--resync-period <seconds>', 'how often every cached object is reconciled again', seconds, 300)
    .addOption(new Option('--log-format <format>', 'log format').choices(['json', 'dev']).default(defaults.logFormat))
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'));
}

function retention(value: string): number {
  const s = parseDuration(value);
  if (s === undefined) throw new InvalidArgumentError('expected a duration: 90s, 30m, 72h');
  return s;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

export interface ControllerCliOptions {
  kubeconfig?: string;
  namespace?: string;
  metricsBindAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectLeaseDuration: number;
  leaderElectRenewDeadline: number;
  leaderElectRetryPeriod: number;
  auditLog: string;
  resyncPeriod: number;
  runtime: 'docker' | 'kubernetes';
  dockerHost?: string;
  gatewayBindAddress: string;
  gatewayNetwork?: string;
  gatewayAdvertiseUrl?: string;
  egressHosts?: string;
  outputRegistry?: string;
  kubernetesCollectorImage?: string;
  outputRetention?: number;
  admittedOutputRetention?: number;
  auditStore: 'file' | 'cluster';
  auditSegmentEntries: number;
  auditRetainEntries: number;
  logFormat: 'json' | 'dev';
  logLevel: string;
}

export function registerControllerCommand(program: Command): void {
  const cmd = program
    .command('controller')
    .description('Run the controller against the cluster of the current kubeconfig (what the Deployment runs)')
    .addHelpText(
      'after',
      '\nMemory: unless NODE_OPTIONS or node flags size the V8 heap, the controller gives half of its\nmemory budget (the cgroup limit, else 1 GiB) to the old generation and budget/128 (at most\n8 MB) to each semi-space, so RSS follows the container\'s memory limit.',
    );
  addControllerOptions(cmd, { metricsAddress: ':8080', leaderElect: true, logFormat: 'json' }).action(async (opts: ControllerCliOptions) => {
    const logger = createLogger({ format: opts.logFormat, level: opts.logLevel });
    // Loaded here, not at the top: the controller's module graph is most of the CLI's start-up
    // time, and every other command (cancel, validate, ...) would pay for it.
    const { startController } = await import('../../controller/run.ts');
    await startController({ ...controllerConfig(opts), kubeConfig: loadKubeConfig(opts.kubeconfig), logger });
  });
}

/** The ControllerConfig fields that come straight from the shared options. */
export function controllerConfig(opts: ControllerCliOptions) {
  return {
    namespace: opts.namespace,
    metricsAddress: opts.metricsBindAddress,
    leaderElect: opts.leaderElect,
    leaderElectionNamespace: opts.leaderElectionNamespace,
    leaseDurationMs: opts.leaderElectLeaseDuration * 1000,
    renewDeadlineMs: opts.leaderElectRenewDeadline * 1000,
    retryPeriodMs: opts.leaderElectRetryPeriod * 1000,
    auditLogPath: opts.auditLog,
    auditStore: opts.auditStore,
    auditSegmentEntries: opts.auditSegmentEntries,
    auditRetainEntries: opts.auditRetainEntries,
    resyncSeconds: opts.resyncPeriod,
    runtime: opts.runtime,
    ...(opts.dockerHost ? { dockerSocket: opts.dockerHost.replace(/^unix:\/\//, '') } : {}),
    gatewayAddress: opts.gatewayBindAddress,
    ...(opts.gatewayNetwork ? { gatewayNetwork: opts.gatewayNetwork } : {}),
    ...(opts.gatewayAdvertiseUrl ? { gatewayAdvertiseUrl: opts.gatewayAdvertiseUrl } : {}),
    ...(opts.egressHosts ? { egressHostsPath: opts.egressHosts } : {}),
    ...(opts.kubernetesCollectorImage ? { kubernetesCollectorImage: opts.kubernetesCollectorImage } : {}),
    ...(opts.outputRegistry ? { outputRegistry: opts.outputRegistry, ...outputRegistryCredentials() } : {}),
    ...(opts.outputRetention !== undefined || opts.admittedOutputRetention !== undefined
      ? {
          outputRetention: {
            ...(opts.outputRetention !== undefined ? { provisionalMs: opts.outputRetention * 1000 } : {}),
            ...(opts.admittedOutputRetention !== undefined ? { admittedMs: opts.admittedOutputRetention * 1000 } : {}),
          },
        }
      : {}),
  };
}

/** The registry's pull/push credentials: the cluster install sets both from a Secret (manifests/controller). */
function outputRegistryCredentials(): { outputRegistryCredentials?: { username: string; password: string } } {
  const username = process.env.AGENT_MACHINE_OUTPUT_REGISTRY_USERNAME;
  const password = process.env.AGENT_MACHINE_OUTPUT_REGISTRY_PASSWORD;
  return username ? { outputRegistryCredentials: { username, password: password ?? '' } } : {};
}
