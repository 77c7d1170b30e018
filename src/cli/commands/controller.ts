import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { startController } from '../../controller/run.ts';
import { createLogger } from '../../observability/logger.ts';
import { loadKubeConfig } from '../kubeconfig.ts';

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
    .option('--audit-log <path>', 'append-only, hash-chained audit log (JSONL)', defaultAuditLogPath())
    .option('--resync-period <seconds>', 'how often every cached object is reconciled again', (v) => Number(v), 300)
    .addOption(new Option('--log-format <format>', 'log format').choices(['json', 'dev']).default(defaults.logFormat))
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'));
}

export interface ControllerCliOptions {
  kubeconfig?: string;
  namespace?: string;
  metricsBindAddress: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  auditLog: string;
  resyncPeriod: number;
  logFormat: 'json' | 'dev';
  logLevel: string;
}

export function registerControllerCommand(program: Command): void {
  const cmd = program
    .command('controller')
    .description('Run the controller against the cluster of the current kubeconfig (what the Deployment runs)');
  addControllerOptions(cmd, { metricsAddress: ':8080', leaderElect: true, logFormat: 'json' }).action(async (opts: ControllerCliOptions) => {
    const logger = createLogger({ format: opts.logFormat, level: opts.logLevel });
    await startController({
      kubeConfig: loadKubeConfig(opts.kubeconfig),
      namespace: opts.namespace,
      metricsAddress: opts.metricsBindAddress,
      leaderElect: opts.leaderElect,
      leaderElectionNamespace: opts.leaderElectionNamespace,
      auditLogPath: opts.auditLog,
      resyncSeconds: opts.resyncPeriod,
      logger,
    });
  });
}
