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
import type { ModelProviderBinding } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { Controller } from '../operator/controller.ts';
import { objectKey } from '../operator/resource.ts';
import { metaTime } from '../operator/time.ts';
import { permissions } from '../governance/access-review.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { modelProviderUseRequest } from '../governance/requests.ts';
import { parseEndpoint } from '../governance/endpoints.ts';
import { CredentialCache } from '../gateway/credentials.ts';
import { probeEndpoint, type ProbeResult } from '../gateway/provider.ts';
import type { ReconcilerDeps } from './deps.ts';
import { decideBinding, type BindingFacts, type BindingPhase } from './model-binding-state.ts';
import { profileFact, profileNames } from './facts.ts';
import { BY_PROFILE, indexed } from './indexes.ts';
import type { GovernedKind } from './core/governed-kind.ts';
import { finalizeIfDeleted, withFinalizer } from './core/finalizer.ts';
import { walkGates } from './core/gate-walk.ts';
import { settle } from './core/settle.ts';

const BIND = 'agent_machine.model_provider.bind';

const KIND: GovernedKind<ModelProviderBinding, BindingPhase> = {
  resource: RESOURCES.ModelProviderBinding,
  phaseOf: (b) => b.status?.phase,
  projection: {
    Pending: { outcome: 'queued', state: 'queued', event: 'progress', warning: true },
    Ready: { outcome: 'allowed', state: 'completed', event: 'complete', warning: false },
    Unreachable: { outcome: 'failed', state: 'retrying', event: 'retry', warning: true },
    Denied: { outcome: 'denied', state: 'failed', event: 'failure', warning: true },
  },
  readyPhase: 'Ready',
  eventReason: { Ready: 'Bound' },
  auditOn: 'phase-or-reason',
  countsDenial: (phase) => phase === 'Denied',
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
      const found = bindings.get(key);
      if (!found || (await finalizeIfDeleted(deps, KIND.resource, found, (b) => auditUnbinding(deps, b)))) return;
      const binding = await withFinalizer(deps, KIND.resource, found);
      if (!binding) return;
      const now = deps.clock();
      const spec = binding.spec;
      const profile = profiles.get(spec.profileRef.name);
      const facts: BindingFacts = {
        binding,
        now,
        profile: profileFact(profile, spec.profileRef.name, profileNames(deps)),
        ...(opts.probeIntervalMs !== undefined ? { probeIntervalMs: opts.probeIntervalMs } : {}),
        ...(opts.retryIntervalMs !== undefined ? { retryIntervalMs: opts.retryIntervalMs } : {}),
      };
      let credential: string | undefined;
      const d = await walkGates(facts, decideBinding, {
        authorization: async (f) => {
          f.authorization = await deps.authorizer.authorize({
            authority: spec.authority,
            operationType: BIND,
            permissions: [permissions.useProfile(spec.profileRef.name), permissions.bindModelProvider(binding.metadata.name!, binding.metadata.namespace!)],
            tenancy: { namespace: binding.metadata.namespace!, tenant: spec.tenant },
            now,
          });
        },
        policy: (f) => void (f.policy = evaluatePolicy(profile, modelProviderUseRequest(spec), { sandbox: deps.celSandbox })),
        credential: async (f) => {
          const lookup = await credentials.read(binding.metadata.namespace!, spec.credentialsSecretRef!);
          f.credential = lookup.found ? { found: true, message: 'credential found' } : { found: false, message: lookup.message };
          if (lookup.found) credential = lookup.value;
        },
        probe: async (f) => {
          let result: ProbeResult;
          try {
            result = await probe(spec, credential, { timeoutMs: opts.probeTimeoutMs ?? 5_000 });
          } catch {
            result = { reachable: false, reason: 'ProbeFailed', message: 'the probe failed unexpectedly', models: [], modelAvailable: false };
          }
          f.probe = result;
        },
      });

      const prev = binding.status;
      const parsed = parseEndpoint(spec.endpoint);
      const probed = d.probe.probedAt;
      const served = d.probe.servedModels;
      const { result } = await settle(deps, KIND, binding, {
        now,
        verdict: {
          ...d,
          operationType: BIND,
          conditions: [
            { type: 'EndpointReachable', status: d.probe.endpointReachable, reason: d.probe.endpointReason, message: d.probe.endpointMessage },
            { type: 'ModelAvailable', status: d.probe.modelAvailable, reason: d.probe.modelReason, message: d.probe.modelMessage },
          ],
        },
        fields: {
          phase: d.phase,
          ...('error' in parsed ? {} : { endpointHost: parsed.hostname.slice(0, 253) }),
          ...(probed ? { lastProbeTime: metaTime(probed) } : prev?.lastProbeTime ? { lastProbeTime: prev.lastProbeTime } : {}),
          ...(served && d.probe.endpointReachable === 'True' ? { servedModels: served } : {}),
        },
      });
      return result;
    },
  });
}

/** A deleted binding is an unbinding: audit it, then let it go. */
async function auditUnbinding(deps: ReconcilerDeps, binding: ModelProviderBinding): Promise<void> {
  await deps.recorder.record(binding, {
    operationType: BIND,
    outcome: 'revoked',
    reason: 'Unbound',
    message: `binding deleted: ${binding.spec.provider} model ${binding.spec.model} is no longer available to executions in ${binding.metadata.namespace}`,
    actor: binding.spec.authority.delegator,
    delegate: binding.spec.authority.delegate,
  });
}
