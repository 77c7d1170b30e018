// AgentMachineDiagnosticBundle (agent_machine.diagnostics.export_redacted): once the delegator
// may `export` agentmachinediagnosticbundles in the namespace (SubjectAccessReview through the
// shared Authorizer) under a delegation that covers the operation, the controller gathers the
// scoped objects, events, log tails and its own audit records, redacts them, checks the result
// for every known secret value and writes the gzip'd tarball into ConfigMaps the bundle owns.
// Anything short of that (denied, redactor error, leak found) leaves no ConfigMap behind.
// A finalizer removes the ConfigMaps when the bundle is deleted (no garbage collector is
// assumed, as on a bare API server).
import type { AuditSource } from '../governance/audit-source.ts';
import os from 'node:os';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import type { AgentMachineDiagnosticBundle } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { Controller } from '../operator/controller.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import { describeError } from '../operator/kube-clients.ts';
import { permissions } from '../governance/access-review.ts';
import { includeFrom } from '../diagnostics/bundle.ts';
import { applyBundleConfigMaps, bundleConfigMaps, deleteBundleConfigMaps, MAX_PARTS, CHUNK_BYTES } from '../diagnostics/config-maps.ts';
import { agentMachineVersion, exportBundle } from '../diagnostics/export.ts';
import { recordRuntimes } from '../diagnostics/gather.ts';
import type { ReconcilerDeps } from './deps.ts';
import { decideBundle, type BundleFacts, type BundlePhase, type ExportFact } from './diagnostic-bundle-state.ts';
import type { GovernedKind } from './core/governed-kind.ts';
import { finalizeIfDeleted, withFinalizer } from './core/finalizer.ts';
import { walkGates } from './core/gate-walk.ts';
import { settle } from './core/settle.ts';
import { controllerNode } from '../operator/device-context.ts';

const EXPORT = 'agent_machine.diagnostics.export_redacted';

const KIND: GovernedKind<AgentMachineDiagnosticBundle, BundlePhase> = {
  resource: RESOURCES.AgentMachineDiagnosticBundle,
  phaseOf: (b) => b.status?.phase,
  projection: {
    Pending: { outcome: 'queued', state: 'queued', event: 'progress', warning: true },
    Exporting: { outcome: 'started', state: 'running', event: 'start', warning: false },
    Ready: { outcome: 'completed', state: 'completed', event: 'complete', warning: false },
    Failed: { outcome: 'failed', state: 'failed', event: 'failure', warning: true },
    Denied: { outcome: 'denied', state: 'failed', event: 'failure', warning: true },
  },
  readyPhase: 'Ready',
  eventReason: { Ready: 'Exported' },
  // A new generation is a new export request: audited even when it ends the same way.
  auditOn: 'phase-reason-or-generation',
  // No profile governs an export: no policy gate to count.
  countsDenial: () => false,
};

// Configuration fields that may appear in controller.json (an allowlist: nothing else is copied).
const CONFIG_FIELDS = [
  'namespace', 'metricsAddress', 'leaderElect', 'leaderElectionNamespace', 'leaderElectionName', 'leaseDurationMs',
  'renewDeadlineMs', 'retryPeriodMs', 'auditLogPath', 'resyncSeconds', 'runtime', 'dockerSocket',
];

export interface DiagnosticBundleOptions {
  /** The controller's audit trail, read for audit.jsonl. */
  audit?: AuditSource;
  /** The controller's configuration; only allowlisted fields reach controller.json. */
  controllerConfig?: Record<string, unknown>;
}

export function diagnosticBundleController(deps: ReconcilerDeps, opts: DiagnosticBundleOptions = {}): Controller {
  const { bundles } = deps.informers;
  const started = new Date();
  // uid → generation settled (Ready/Failed) by this process. The cache lags our own status
  // write; without this an update event in between (our finalizer patch) would export again.
  const settled = new Map<string, number>();
  return new Controller({
    kind: 'AgentMachineDiagnosticBundle',
    informer: bundles,
    logger: deps.logger,
    metrics: deps.metrics,
    // Exports read and compress everything in scope: one at a time.
    concurrency: 1,
    reconcile: async (key, ctx) => {
      const found = bundles.get(key);
      if (!found) return;
      const ns = found.metadata.namespace!;
      const name = found.metadata.name!;
      if (isBeingDeleted(found)) settled.delete(found.metadata.uid!);
      if (await finalizeIfDeleted(deps, KIND.resource, found, async () => void (await deleteBundleConfigMaps(deps.clients, ns, name)))) return;
      if (settled.get(found.metadata.uid!) === found.metadata.generation) return;
      const early = decideBundle({ bundle: found });
      if (early.need === undefined && early.done) return;
      const bundle = await withFinalizer(deps, KIND.resource, found);
      if (!bundle) return;
      const now = deps.clock();
      let configMaps: V1ConfigMap[] = [];
      const d = await walkGates<BundleFacts, ReturnType<typeof decideBundle>>({ bundle }, decideBundle, {
        authorization: async (f) => {
          f.authorization = await deps.authorizer.authorize({ authority: bundle.spec.authority, operationType: EXPORT, permissions: [permissions.exportDiagnostics(name, ns)], now });
        },
        export: async (f) => void ({ fact: f.export, configMaps } = await runExport(deps, opts, bundle, now, started)),
      });
      if (d.done) throw new Error('bundle decision incomplete');

      const e = d.export;
      if (!e?.ok) {
        // Fail closed: whatever an earlier generation exported goes too.
        const removed = await deleteBundleConfigMaps(deps.clients, ns, name);
        if (removed.length > 0) ctx.log.info({ removed }, 'removed the ConfigMaps of an earlier export');
      }
      const { result, written } = await settle(deps, KIND, bundle, {
        now,
        verdict: {
          ...d,
          operationType: EXPORT,
          // No profile governs an export: authority and RBAC are its only gates.
          policyAllowed: d.authorized === 'True' ? 'True' : 'Unknown',
          conditions: [
            e?.ok
              ? { type: 'Redacted', status: 'True', reason: 'LeakCheckPassed', message: 'no known secret value or credential format found in the finished bundle' }
              : e
                ? { type: 'Redacted', status: 'False', reason: e.reason, message: e.message }
                : { type: 'Redacted', status: 'Unknown', reason: 'NotExported', message: 'nothing exported' },
          ],
        },
        fields: {
          phase: d.phase,
          ...(e?.ok ? { digest: e.digest, sizeBytes: e.sizeBytes, configMaps: e.configMaps } : {}),
          ...(e ? { redactionReport: e.report } : {}),
          // What the final leak check found (all false for a bundle that was written).
          ...(e?.flags ?? {}),
        },
        // Published only once its audit record is durable (as every command): retried whole if
        // writing the parts fails.
        beforeWrite: async () => {
          if (!e?.ok) return;
          await applyBundleConfigMaps(deps.clients, configMaps);
          await deleteBundleConfigMaps(deps.clients, ns, name, e.configMaps);
        },
      });
      if ((d.phase === 'Ready' || d.phase === 'Failed') && written.outcome !== 'gone') settled.set(bundle.metadata.uid!, bundle.metadata.generation!);
      return result;
    },
  });
}

/** Gathers and builds; the ConfigMaps come back unwritten. */
async function runExport(deps: ReconcilerDeps, opts: DiagnosticBundleOptions, bundle: AgentMachineDiagnosticBundle, now: Date, started: Date): Promise<{ fact: ExportFact; configMaps: V1ConfigMap[] }> {
  const ns = bundle.metadata.namespace!;
  const name = bundle.metadata.name!;
  const scope = bundle.spec.scope ?? {};
  const result = await exportBundle({
    clients: deps.clients,
    via: 'controller',
    bundle: { name, ...(bundle.metadata.uid ? { uid: bundle.metadata.uid } : {}) },
    scope: { namespace: ns, ...(scope.executions ? { executions: scope.executions } : {}), ...(scope.since ? { since: scope.since } : {}), ...(scope.until ? { until: scope.until } : {}) },
    include: includeFrom(bundle.spec.include),
    now,
    ...(opts.audit ? { audit: opts.audit } : {}),
    metrics: () => deps.metrics.registry.metrics(),
    controller: () => controllerInfo(opts, started),
    runtime: (objects) => runtimeInfo(deps, objects),
    node: controllerNode(),
    // Executions still running (or whose containers are) have their forwarded prompts here.
    ...(deps.prompts ? { prompts: (uids: string[]) => deps.prompts!.matcher(uids) } : {}),
  });
  if (!result.ok) return { fact: { ok: false, reason: result.reason, message: result.message, report: result.report, ...(result.flags ? { flags: result.flags } : {}) }, configMaps: [] };
  const parts = Math.ceil(result.tarGz.length / CHUNK_BYTES);
  if (parts > MAX_PARTS) {
    return { fact: { ok: false, reason: 'TooLarge', message: `the bundle is ${result.sizeBytes} bytes: more than ${MAX_PARTS} ConfigMaps; narrow spec.scope or spec.include`, report: result.report, flags: result.flags }, configMaps: [] };
  }
  const configMaps = bundleConfigMaps({ name, namespace: ns, uid: bundle.metadata.uid! }, result.tarGz, result.digest);
  const names = configMaps.map((c) => c.metadata!.name!);
  return { fact: { ok: true, digest: result.digest, sizeBytes: result.sizeBytes, configMaps: names, report: result.report, files: result.files.length + 1, flags: result.flags }, configMaps };
}

function controllerInfo(opts: DiagnosticBundleOptions, started: Date): Record<string, unknown> {
  const cfg = opts.controllerConfig ?? {};
  const config = Object.fromEntries(CONFIG_FIELDS.filter((k) => cfg[k] !== undefined).map((k) => [k, cfg[k]]));
  return {
    name: 'agent-machine',
    version: agentMachineVersion(),
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    hostname: os.hostname(),
    startedAt: started.toISOString(),
    uptimeSeconds: Math.round(process.uptime()),
    config,
  };
}

async function runtimeInfo(deps: ReconcilerDeps, objects: KubernetesObject[]): Promise<Record<string, unknown>> {
  const runtimes: Record<string, unknown> = {};
  for (const [kind, runtime] of Object.entries(deps.runtimes)) {
    if (!runtime) continue;
    try {
      const version = await Promise.race([runtime.ping(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref())]);
      runtimes[kind] = { reachable: true, version };
    } catch (err) {
      runtimes[kind] = { reachable: false, error: describeError(err) };
    }
  }
  return { defaultRuntime: deps.defaultRuntime, runtimes, records: recordRuntimes(objects) };
}

