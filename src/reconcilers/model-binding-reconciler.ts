// ModelProviderBinding (agent_machine.model_provider.bind): Ready only after the delegation,
// the delegator's RBAC (use the profile, bind the provider) and the profile's modelProviderUse
// policy pass, and a probe of the endpoint (GET /v1/models, or Ollama's /api/tags, with the
// credential from credentialsSecretRef) shows the model is served. Ready bindings are probed
// again every probe interval; spec and profile changes re-decide at once. The gateway forwards
// only through Ready bindings.
//
// Deleting a binding is an unbinding: a finalizer holds the object until that is audited
// (the gateway refuses calls through a binding being deleted from that moment on).
//
// The credential is read from its Secret for the probe and handed to the shared credential
// cache the gateway reads; it never appears in status, events, the audit log or logs (probe
// messages carry the HTTP status or the connection error, never a response body).
import type { ModelProviderBinding, ModelProviderBindingStatus } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { nextOperation, type OperationEventType, type OperationState } from '../api/operation.ts';
import { Controller } from '../operator/controller.ts';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../operator/finalizers.ts';
import { objectKey } from '../operator/resource.ts';
import { metaTime } from '../operator/time.ts';
import { permissions } from '../governance/access-review.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { modelProviderUseRequest } from '../governance/requests.ts';
import { firstDenial } from '../governance/decision.ts';
import { parseEndpoint } from '../governance/endpoints.ts';
import type { AuditOutcome } from '../governance/audit-log.ts';
import { CredentialCache } from '../gateway/credentials.ts';
import { probeEndpoint, type ProbeResult } from '../gateway/provider.ts';
import type { ReconcilerDeps } from './deps.ts';
import { decideBinding, type BindingFacts, type BindingPhase } from './model-binding-state.ts';
import { profileFact } from './facts.ts';
import { BY_PROFILE, indexed } from './indexes.ts';
import { boundedDecisions, gateConditions, requeueAfter } from './core/status-parts.ts';
import { getCondition } from '../operator/conditions.ts';

const BIND = 'agent_machine.model_provider.bind';

const PROJECTION: Record<BindingPhase, { outcome: AuditOutcome; state: OperationState; event: OperationEventType; warning: boolean }> = {
  Pending: { outcome: 'queued', state: 'queued', event: 'progress', warning: true },
  Ready: { outcome: 'allowed', state: 'completed', event: 'complete', warning: false },
  Unreachable: { outcome: 'failed', state: 'retrying', event: 'retry', warning: true },
  Denied: { outcome: 'denied', state: 'failed', event: 'failure', warning: true },
};

export interface ModelBindingControllerOptions {
  /** Shared with the gateway, so a probe refreshes what the gateway forwards with. */
  credentials?: CredentialCache;
  probeIntervalMs?: number;
  retryIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Replaces the HTTP probe (tests). */
  probe?: typeof probeEndpoint;
}

export function modelBindingController(deps: ReconcilerDeps, opts: ModelBindingControllerOptions = {}): Controller {
  const { bindings, profiles } = deps.informers;
  const bindingsUnder = indexed(bindings, BY_PROFILE);
  const credentials = opts.credentials ?? new CredentialCache(deps.clients);
  const probe = opts.probe ?? probeEndpoint;

  return new Controller({
    kind: 'ModelProviderBinding',
    informer: bindings,
    logger: deps.logger,
    metrics: deps.metrics,
    concurrency: 4,
    // A profile change (deleted, turned Invalid, rules edited) re-decides its bindings.
    watches: [{ informer: profiles, map: (p) => bindingsUnder(p.metadata!.name!).map(objectKey) }],
    reconcile: async (key) => {
      let binding = bindings.get(key);
      if (!binding) return;
      if (isBeingDeleted(binding)) return finalizeDeletion(deps, binding);
      if (!hasFinalizer(binding)) {
        const r = await ensureFinalizer(deps.clients, RESOURCES.ModelProviderBinding, binding);
        if (r.outcome === 'gone') return;
        binding = r.object;
      }
      const now = deps.clock();
      const spec = binding.spec;
      const profile = profiles.get(spec.profileRef.name);
      const facts: BindingFacts = {
        binding,
        now,
        profile: profileFact(profile, spec.profileRef.name),
        ...(opts.probeIntervalMs !== undefined ? { probeIntervalMs: opts.probeIntervalMs } : {}),
        ...(opts.retryIntervalMs !== undefined ? { retryIntervalMs: opts.retryIntervalMs } : {}),
      };
      let credential: string | undefined;
      let d = decideBinding(facts);
      for (let step = 0; d.need && step < 5; step++) {
        switch (d.need) {
          case 'authorization':
            facts.authorization = await deps.authorizer.authorize({
              authority: spec.authority,
              operationType: BIND,
              permissions: [permissions.useProfile(spec.profileRef.name), permissions.bindModelProvider(binding.metadata.name!, binding.metadata.namespace!)],
              now,
            });
            break;
          case 'policy':
            facts.policy = evaluatePolicy(profile, modelProviderUseRequest(spec));
            break;
          case 'credential': {
            const lookup = await credentials.read(binding.metadata.namespace!, spec.credentialsSecretRef!);
            facts.credential = lookup.found ? { found: true, message: 'credential found' } : { found: false, message: lookup.message };
            if (lookup.found) credential = lookup.value;
            break;
          }
          case 'probe': {
            let result: ProbeResult;
            try {
              result = await probe(spec, credential, { timeoutMs: opts.probeTimeoutMs ?? 5_000 });
            } catch {
              result = { reachable: false, reason: 'ProbeFailed', message: 'the probe failed unexpectedly', models: [], modelAvailable: false };
            }
            facts.probe = result;
            break;
          }
        }
        d = decideBinding(facts);
      }
      if (d.need) throw new Error(`binding decision still needs ${d.need}`);

      const prev = binding.status;
      const p = PROJECTION[d.phase];
      if (prev?.phase !== d.phase || getCondition(binding.status?.conditions, 'Ready')?.reason !== d.reason) {
        await deps.recorder.record(binding, {
          operationType: BIND,
          outcome: p.outcome,
          reason: d.phase === 'Ready' ? 'Bound' : d.reason,
          message: d.message,
          warning: p.warning,
          actor: spec.authority.delegator,
          delegate: spec.authority.delegate,
          decisions: d.decisions,
        });
        const denied = d.phase === 'Denied' ? firstDenial(d.decisions) : undefined;
        if (denied) deps.metrics.policyDenials.inc({ gate: denied.gate });
      }

      const parsed = parseEndpoint(spec.endpoint);
      const probed = d.probe.probedAt;
      const served = d.probe.servedModels;
      const status: ModelProviderBindingStatus = {
        phase: d.phase,
        ...('error' in parsed ? {} : { endpointHost: parsed.hostname.slice(0, 253) }),
        ...(probed ? { lastProbeTime: metaTime(probed) } : prev?.lastProbeTime ? { lastProbeTime: prev.lastProbeTime } : {}),
        ...(served && d.probe.endpointReachable === 'True' ? { servedModels: served } : {}),
        conditions: gateConditions(
          prev?.conditions,
          binding.metadata.generation,
          now,
          { authorized: d.authorized, authorizedReason: d.reason, policyAllowed: d.policyAllowed, ready: d.phase === 'Ready', reason: d.reason, message: d.message, phase: d.phase },
          [
            { type: 'EndpointReachable', status: d.probe.endpointReachable, reason: d.probe.endpointReason, message: d.probe.endpointMessage },
            { type: 'ModelAvailable', status: d.probe.modelAvailable, reason: d.probe.modelReason, message: d.probe.modelMessage },
          ],
        ),
        decisions: boundedDecisions(d.decisions),
        operation: nextOperation(prev?.operation, binding.metadata.uid!, { operationType: BIND, state: p.state, event: { eventType: p.event, details: d.message } }, now),
      };
      await deps.status.write(RESOURCES.ModelProviderBinding, binding, status as Record<string, unknown>);
      return requeueAfter(d.requeueAfterMs);
    },
  });
}


/** A deleted binding is an unbinding: audit it, then let it go. */
async function finalizeDeletion(deps: ReconcilerDeps, binding: ModelProviderBinding): Promise<void> {
  if (!hasFinalizer(binding)) return;
  await deps.recorder.record(binding, {
    operationType: BIND,
    outcome: 'revoked',
    reason: 'Unbound',
    message: `binding deleted: ${binding.spec.provider} model ${binding.spec.model} is no longer available to executions in ${binding.metadata.namespace}`,
    actor: binding.spec.authority.delegator,
    delegate: binding.spec.authority.delegate,
  });
  await removeFinalizer(deps.clients, RESOURCES.ModelProviderBinding, binding);
}
