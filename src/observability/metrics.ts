// The operator's Prometheus metrics, in one Registry per process (or per test), never the
// prom-client global one: tests create several managers in one process, and library code that
// registers into the global registry would clash.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  readonly registry: Registry;
  /** result: success | requeue | error */
  readonly reconcileTotal: Counter<'kind' | 'result'>;
  readonly reconcileErrors: Counter<'kind'>;
  readonly reconcileDuration: Histogram<'kind'>;
  /** Read from the registered queues at scrape time (see trackQueueDepth). */
  readonly workqueueDepth: Gauge<'kind'>;
  /** state: active | revoked | expired | pending ... (set by the grant reconciler) */
  readonly toolGrants: Gauge<'state'>;
  readonly policyDenials: Counter<'gate'>;
  /** runtime: docker | kubernetes. 1 when the runtime answered its last call, 0 when it was unreachable. */
  readonly runtimeUp: Gauge<'runtime'>;
  /** Reports depth() of a kind's queue on every scrape; returns an unregister function. */
  trackQueueDepth(kind: string, depth: () => number): () => void;
  /** Reports isLeader() as agent_machine_leader (1 or 0) on every scrape. */
  trackLeader(isLeader: () => boolean): void;
  /** Reports count() as agent_machine_executions{phase,profile} on every scrape. */
  trackExecutions(count: () => ReadonlyArray<{ phase: string; profile: string; count: number }>): void;
  /** Audit records waiting to be stored (the cluster store holds them while the API server does not answer). */
  readonly auditBacklog: Gauge;
  /** Requests this process sent to the API server, by verb and resource (see operator/request-counting.ts). */
  readonly apiRequests: Counter<'verb' | 'resource'>;
}

export interface MetricsOptions {
  /** process_* and nodejs_* collectors (default true). */
  defaultMetrics?: boolean;
}

export const METRIC_NAMES = {
  reconcileTotal: 'agent_machine_reconcile_total',
  reconcileErrors: 'agent_machine_reconcile_errors_total',
  reconcileDuration: 'agent_machine_reconcile_duration_seconds',
  workqueueDepth: 'agent_machine_workqueue_depth',
  toolGrants: 'agent_machine_tool_grants',
  policyDenials: 'agent_machine_policy_denials_total',
  runtimeUp: 'agent_machine_runtime_up',
  leader: 'agent_machine_leader',
  executions: 'agent_machine_executions',
  auditBacklog: 'agent_machine_audit_backlog',
  apiRequests: 'agent_machine_api_requests_total',
} as const;

export function createMetrics(opts: MetricsOptions = {}): OperatorMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const queues = new Map<string, () => number>();
  const workqueueDepth = new Gauge({
    name: METRIC_NAMES.workqueueDepth,
    help: 'Keys waiting in the work queue of a controller (not counting the ones being reconciled).',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      for (const [kind, depth] of queues) this.set({ kind }, depth());
    },
  });

  // Alerting needs a series on every replica: "no replica is leader" and "no controller at all"
  // (absent) are different pages.
  let leaderProbe: (() => boolean) | undefined;
  new Gauge({
    name: METRIC_NAMES.leader,
    help: '1 when this replica runs the controllers (holds the leader lease, or runs without election), else 0.',
    registers: [registry],
    collect() {
      if (leaderProbe) this.set(leaderProbe() ? 1 : 0);
    },
  });

  // Counted from the informer's cache at scrape time, so a deleted execution or profile leaves
  // no stale series behind (reset first).
  let executionCounts: (() => ReadonlyArray<{ phase: string; profile: string; count: number }>) | undefined;
  new Gauge({
    name: METRIC_NAMES.executions,
    help: 'LocalAgentExecutions by phase and profile, as this replica\'s cache sees them.',
    labelNames: ['phase', 'profile'] as const,
    registers: [registry],
    collect() {
      if (!executionCounts) return;
      this.reset();
      for (const c of executionCounts()) this.set({ phase: c.phase, profile: c.profile }, c.count);
    },
  });

  return {
    registry,
    reconcileTotal: new Counter({
      name: METRIC_NAMES.reconcileTotal,
      help: 'Reconciles by kind and result (success, requeue, error).',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: METRIC_NAMES.reconcileErrors,
      help: 'Reconciles that threw, by kind.',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: METRIC_NAMES.reconcileDuration,
      help: 'Time one reconcile took, by kind.',
      labelNames: ['kind'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    workqueueDepth,
    toolGrants: new Gauge({
      name: METRIC_NAMES.toolGrants,
      help: 'ToolGrantRecords by state.',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    policyDenials: new Counter({
      name: METRIC_NAMES.policyDenials,
      help: 'Policy denials by gate.',
      labelNames: ['gate'] as const,
      registers: [registry],
    }),
    runtimeUp: new Gauge({
      name: METRIC_NAMES.runtimeUp,
      help: 'Whether a container runtime answered its last call (1) or was unreachable (0), by runtime.',
      labelNames: ['runtime'] as const,
      registers: [registry],
    }),
    auditBacklog: new Gauge({
      name: METRIC_NAMES.auditBacklog,
      help: 'Audit records accepted but not yet stored (cluster audit store: held while the API server does not answer; nothing is acknowledged before it is stored).',
      registers: [registry],
    }),
    apiRequests: new Counter({
      name: METRIC_NAMES.apiRequests,
      help: 'Requests sent to the API server, by verb (get, list, watch, create, update, patch, delete) and resource (with its subresource: localagentexecutions/status).',
      labelNames: ['verb', 'resource'] as const,
      registers: [registry],
    }),
    trackLeader(isLeader: () => boolean): void {
      leaderProbe = isLeader;
    },
    trackExecutions(count) {
      executionCounts = count;
    },
    trackQueueDepth(kind: string, depth: () => number): () => void {
      queues.set(kind, depth);
      return () => {
        if (queues.get(kind) === depth) {
          queues.delete(kind);
          workqueueDepth.remove({ kind });
        }
      };
    },
  };
}
