// The ModelProviderBinding state machine, pure. The reconciler gathers facts (profile from the
// cache, authorization, policy, the credential Secret, an endpoint probe) and asks
// decideBinding what they mean; a missing fact is named so it is fetched next, and the probe is
// only asked for when one is due, so a status write (which comes back as a watch event) never
// triggers another probe.
//
//   profile missing / not yet reconciled ──────────► Pending (waiting; re-evaluated)
//   profile Invalid ───────────────────────────────► Denied (re-evaluated)
//   profile being deleted, binding not in service ─► Pending (ProfileDeleting)
//   admission policy missing ──────────────────────► Pending (AuthorityUnverifiable)
//   authority / RBAC (bind) / modelProviderUse ────► Denied (re-evaluated)
//   credential Secret missing ─────────────────────► Pending (SecretNotFound)
//   endpoint unreachable / credential refused ─────► Unreachable (EndpointReachable=False)
//   model not served ──────────────────────────────► Pending (ModelAvailable=False)
//   everything holds ──────────────────────────────► Ready, probed again every probeIntervalMs
import type { ModelProviderBinding } from '../api/types.generated.ts';
import { parseExpiry } from '../governance/authority.ts';
import { firstDenial, policyDenialReason, type Decision } from '../governance/decision.ts';
import { parseEndpoint } from '../governance/endpoints.ts';
import type { PolicyResult } from '../governance/policy.ts';
import type { ProbeResult } from '../gateway/provider.ts';
import type { AuthorizationOutcome } from './authorization.ts';
import type { ProfileFact, Tri } from './facts.ts';

export type BindingPhase = NonNullable<NonNullable<ModelProviderBinding['status']>['phase']>;

export const DEFAULT_PROBE_INTERVAL_MS = 60_000;
export const DEFAULT_RETRY_INTERVAL_MS = 15_000;
const RECHECK_DENIED_MS = 30_000;
const RECHECK_PENDING_MS = 10_000;

export interface BindingFacts {
  binding: ModelProviderBinding;
  now: Date;
  profile: ProfileFact;
  authorization?: AuthorizationOutcome;
  policy?: PolicyResult;
  /** Only asked for when a probe is due and the binding names a Secret. */
  credential?: { found: boolean; message: string };
  probe?: ProbeResult;
  probeIntervalMs?: number;
  retryIntervalMs?: number;
}

export interface ProbeOutcome {
  endpointReachable: Tri;
  endpointReason: string;
  endpointMessage: string;
  modelAvailable: Tri;
  modelReason: string;
  modelMessage: string;
  servedModels?: string[];
  /** Set when this decision comes from a new probe. */
  probedAt?: Date;
}

export type BindingDecision =
  | { need: 'authorization' | 'policy' | 'credential' | 'probe' }
  | {
      need?: undefined;
      phase: BindingPhase;
      reason: string;
      message: string;
      authorized: Tri;
      policyAllowed: Tri;
      probe: ProbeOutcome;
      decisions: Decision[];
      requeueAfterMs?: number;
      /** Pending for something that will come (its profile): audited as queued, a Normal event. */
      waiting?: boolean;
    };

const NOT_PROBED: ProbeOutcome = {
  endpointReachable: 'Unknown',
  endpointReason: 'NotProbed',
  endpointMessage: 'not probed: an earlier check decided',
  modelAvailable: 'Unknown',
  modelReason: 'NotProbed',
  modelMessage: 'not probed: an earlier check decided',
};

/** Is a new probe due, or may the last one (in status) stand? */
export function probeDue(binding: ModelProviderBinding, now: Date, intervalMs = DEFAULT_PROBE_INTERVAL_MS, retryMs = DEFAULT_RETRY_INTERVAL_MS): boolean {
  const s = binding.status;
  const last = s?.lastProbeTime ? Date.parse(s.lastProbeTime) : NaN;
  if (Number.isNaN(last)) return true;
  // A spec change (endpoint, model, credential) invalidates the last probe.
  if (s?.observedGeneration !== binding.metadata.generation) return true;
  const reachable = s?.conditions?.find((c) => c.type === 'EndpointReachable')?.status;
  const available = s?.conditions?.find((c) => c.type === 'ModelAvailable')?.status;
  if (reachable !== 'True' && reachable !== 'False') return true;
  const healthy = reachable === 'True' && available === 'True';
  // lastProbeTime has second precision; a little slack keeps a requeue from landing just short.
  return now.getTime() - last >= (healthy ? intervalMs : retryMs) - 1_000;
}

/** The last probe's outcome, read back from status. */
export function previousProbe(binding: ModelProviderBinding): ProbeOutcome {
  const cond = (type: string) => binding.status?.conditions?.find((c) => c.type === type);
  const r = cond('EndpointReachable');
  const m = cond('ModelAvailable');
  return {
    endpointReachable: (r?.status as Tri | undefined) ?? 'Unknown',
    endpointReason: r?.reason ?? 'NotProbed',
    endpointMessage: r?.message ?? '',
    modelAvailable: (m?.status as Tri | undefined) ?? 'Unknown',
    modelReason: m?.reason ?? 'NotProbed',
    modelMessage: m?.message ?? '',
    ...(binding.status?.servedModels ? { servedModels: binding.status.servedModels } : {}),
  };
}

export function probeOutcome(p: ProbeResult, model: string, now: Date): ProbeOutcome {
  return {
    endpointReachable: p.reachable ? 'True' : 'False',
    endpointReason: p.reason,
    endpointMessage: p.message,
    modelAvailable: p.reachable ? (p.modelAvailable ? 'True' : 'False') : 'Unknown',
    modelReason: p.reachable ? (p.modelAvailable ? 'ModelServed' : 'ModelNotServed') : 'NotProbed',
    modelMessage: p.reachable ? (p.modelAvailable ? `${model} is served` : `${model} is not among the ${p.models.length} model(s) the endpoint serves`) : 'the endpoint did not answer',
    servedModels: boundedModels(p.models, model),
    probedAt: now,
  };
}

/** status.servedModels holds 64 names of at most 256 characters; the bound model goes first. */
export function boundedModels(models: readonly string[], model: string): string[] {
  const sorted = [...new Set(models)].filter((m) => m.length <= 256);
  sorted.sort((a, b) => (a === model ? -1 : b === model ? 1 : a.localeCompare(b)));
  return sorted.slice(0, 64);
}

export function decideBinding(f: BindingFacts): BindingDecision {
  const spec = f.binding.spec;
  const interval = f.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const retry = f.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS;
  const expiry = parseExpiry(spec.authority?.expiresAt);
  const untilExpiry = expiry ? expiry.getTime() - f.now.getTime() : undefined;
  const capped = (ms: number) => (untilExpiry !== undefined && untilExpiry > 0 ? Math.min(ms, untilExpiry) : ms);

  if (!f.profile.settled) {
    return { ...final('Pending', f.profile.found ? 'ProfileNotReady' : 'ProfileNotFound', `waiting: ${f.profile.message}`, 'Unknown', 'Unknown', NOT_PROBED, [], RECHECK_PENDING_MS), waiting: true };
  }
  if (!f.profile.ready) return final('Denied', 'ProfileNotReady', f.profile.message, 'Unknown', 'Unknown', NOT_PROBED, [], RECHECK_DENIED_MS);
  // A profile being deleted binds nothing new (profile-in-use.ts); a binding in service keeps it.
  const inService = f.binding.status?.phase === 'Ready' || f.binding.status?.phase === 'Unreachable';
  if (f.profile.deleting && !inService) {
    return { ...final('Pending', 'ProfileDeleting', `waiting: ${f.profile.message}`, 'Unknown', 'Unknown', NOT_PROBED, [], RECHECK_PENDING_MS), waiting: true };
  }
  if (!f.authorization) return { need: 'authorization' };
  const auth = f.authorization;
  if (!auth.allowed) {
    const phase: BindingPhase = auth.reason === 'AuthorityUnverifiable' ? 'Pending' : 'Denied';
    return final(phase, auth.reason, auth.message, 'False', 'Unknown', NOT_PROBED, auth.decisions, phase === 'Pending' ? RECHECK_PENDING_MS : RECHECK_DENIED_MS);
  }
  if (!f.policy) return { need: 'policy' };
  const decisions = [...auth.decisions, ...f.policy.decisions];
  if (!f.policy.allowed) {
    const denied = firstDenial(f.policy.decisions);
    return final('Denied', policyDenialReason(decisions), denied?.message ?? 'policy denied the binding', 'True', 'False', NOT_PROBED, decisions, RECHECK_DENIED_MS);
  }

  let probe: ProbeOutcome;
  if (probeDue(f.binding, f.now, interval, retry) || f.probe) {
    if (spec.credentialsSecretRef && !f.credential) return { need: 'credential' };
    if (f.credential && !f.credential.found) {
      return final('Pending', 'SecretNotFound', f.credential.message, 'True', 'True', { ...NOT_PROBED, endpointReason: 'SecretNotFound', endpointMessage: 'not probed: the credential is missing' }, decisions, capped(RECHECK_PENDING_MS));
    }
    if (!f.probe) return { need: 'probe' };
    probe = probeOutcome(f.probe, spec.model, f.now);
  } else {
    probe = previousProbe(f.binding);
  }

  const host = hostOf(spec.endpoint);
  if (probe.endpointReachable !== 'True') {
    return final('Unreachable', probe.endpointReason === 'NotProbed' ? 'EndpointUnreachable' : probe.endpointReason, `endpoint ${host} is not usable: ${probe.endpointMessage}`, 'True', 'True', probe, decisions, capped(retry));
  }
  if (probe.modelAvailable !== 'True') {
    return final('Pending', 'ModelNotAvailable', `endpoint ${host} answers, but ${probe.modelMessage}`, 'True', 'True', probe, decisions, capped(retry));
  }
  const sinceProbe = probe.probedAt ? 0 : f.now.getTime() - Date.parse(f.binding.status?.lastProbeTime ?? '');
  const nextProbe = Math.max(1_000, interval - (Number.isNaN(sinceProbe) ? 0 : sinceProbe));
  return final('Ready', 'Ready', `${spec.provider} endpoint ${host} serves ${spec.model}`, 'True', 'True', probe, decisions, capped(nextProbe));
}

function hostOf(endpoint: string): string {
  const p = parseEndpoint(endpoint);
  return 'error' in p ? '(invalid endpoint)' : `${p.hostname}:${p.port}`;
}

function final(phase: BindingPhase, reason: string, message: string, authorized: Tri, policyAllowed: Tri, probe: ProbeOutcome, decisions: Decision[], requeueAfterMs?: number): Extract<BindingDecision, { phase: BindingPhase }> {
  return { phase, reason, message, authorized, policyAllowed, probe, decisions, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}
