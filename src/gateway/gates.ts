// What the gateway checks on every call, pure: the caller hands in what its informer caches
// hold (execution, binding, profile, grants) and the policy verdicts, and gets either a go or
// the refusal to send (HTTP status, machine-readable code, message). Nothing here does I/O, so
// a call costs map lookups, and the rules are unit-tested without a server.
//
//   token → execution    unknown token, other UID, execution finished or being deleted → 401
//   execution            delegation expired → 403; not admitted yet (no effective budget) → 403
//   model calls          no modelProviderRef, binding missing/being deleted/Denied, profile not Ready,
//                        the binding is another tenant's or (user-owned) another user's,
//                        modelProviderUse policy denies → 403; binding not Ready yet → 503
//   tool decisions       the delegation's scopes cover the tool, and an Active, unrevoked,
//                        unexpired ToolGrantRecord in the namespace, for the execution's
//                        delegate, delegator and tenant and this tool, covers the action (no
//                        actions = all)
//   the delegator's RBAC (delegator-access.ts, asynchronous) comes after these.
//   budget               (the ledger) modelCalls / tokens / connectorCalls exhausted → 429
import type { AgentMachineProfile, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import type { FullBudget } from '../governance/budget.ts';
import { checkAuthority, parseExpiry } from '../governance/authority.ts';
import { firstDenial } from '../governance/decision.ts';
import type { PolicyResult } from '../governance/policy.ts';
import { isTrue } from '../operator/conditions.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import { bindingServes, isTerminalExecutionPhase } from '../reconcilers/execution-state.ts';
import { profileFact } from '../reconcilers/facts.ts';
import type { TokenIdentity } from './tokens.ts';
import { getCondition } from '../operator/conditions.ts';

export interface Refusal {
  status: number;
  /** OpenAI-style error type. */
  type: string;
  /** Machine-readable code, e.g. token_expired, binding_not_ready, budget_exceeded. */
  code: string;
  message: string;
  /** The budget dimension, on 429. */
  dimension?: string;
}

const refuse = (status: number, type: string, code: string, message: string): Refusal => ({ status, type, code, message });

export type ExecutionCheck = { ok: true; execution: LocalAgentExecution; effective: FullBudget } | { ok: false; refusal: Refusal };

/** The execution a token speaks for, if it may still act. */
export function checkExecution(identity: TokenIdentity | undefined, execution: LocalAgentExecution | undefined, now: Date, revoked?: TokenIdentity): ExecutionCheck {
  if (!identity) {
    if (revoked) return { ok: false, refusal: refuse(401, 'authentication_error', 'token_expired', `the token of execution ${revoked.namespace}/${revoked.execution} was revoked: the execution finished or went away`) };
    return { ok: false, refusal: refuse(401, 'authentication_error', 'invalid_token', 'the token is not a valid agent-machine gateway token') };
  }
  if (!execution || execution.metadata.uid !== identity.executionUid) {
    return { ok: false, refusal: refuse(401, 'authentication_error', 'token_expired', `execution ${identity.namespace}/${identity.execution} no longer exists: its token is not accepted`) };
  }
  const phase = execution.status?.phase;
  if (isBeingDeleted(execution) || isTerminalExecutionPhase(phase)) {
    return { ok: false, refusal: refuse(401, 'authentication_error', 'token_expired', `execution ${identity.namespace}/${identity.execution} has finished (${phase ?? 'deleted'}): its token is not accepted`) };
  }
  const expiry = parseExpiry(execution.spec.authority?.expiresAt);
  if (!expiry || expiry.getTime() <= now.getTime()) {
    return { ok: false, refusal: refuse(403, 'permission_error', 'authority_expired', `the delegation of execution ${identity.execution} expired at ${execution.spec.authority?.expiresAt}`) };
  }
  const effective = execution.status?.budget?.effective as FullBudget | undefined;
  if (!effective) return { ok: false, refusal: refuse(403, 'permission_error', 'not_admitted', `execution ${identity.execution} has not been admitted (no effective budget yet)`) };
  return { ok: true, execution, effective };
}

export function bindingReady(binding: ModelProviderBinding): boolean {
  return binding.status?.phase === 'Ready' && isTrue(binding.status.conditions, 'Ready') && binding.status.observedGeneration === binding.metadata.generation;
}

export type BindingCheck = { ok: true; binding: ModelProviderBinding } | { ok: false; refusal: Refusal };

/**
 * May this execution call its model provider now? `policy` is the modelProviderUse verdict of
 * the execution's profile for this binding (the caller caches it per object version).
 */
export function checkModelUse(
  execution: LocalAgentExecution,
  binding: ModelProviderBinding | undefined,
  profile: AgentMachineProfile | undefined,
  policy: (profile: AgentMachineProfile, binding: ModelProviderBinding) => PolicyResult,
  bindingProfileType?: string,
): BindingCheck {
  const ref = execution.spec.modelProviderRef;
  if (!ref) return { ok: false, refusal: refuse(403, 'permission_error', 'no_model_provider', `execution ${execution.metadata.name} names no modelProviderRef`) };
  if (!binding) return { ok: false, refusal: refuse(403, 'permission_error', 'binding_not_found', `ModelProviderBinding ${ref.name} not found in namespace ${execution.metadata.namespace}`) };
  if (isBeingDeleted(binding)) return { ok: false, refusal: refuse(403, 'permission_error', 'binding_not_found', `ModelProviderBinding ${ref.name} is being deleted`) };
  if (binding.status?.phase === 'Denied') {
    return { ok: false, refusal: refuse(403, 'permission_error', 'binding_denied', `ModelProviderBinding ${ref.name} is Denied: ${readyMessage(binding)}`) };
  }
  if (!bindingReady(binding)) {
    return { ok: false, refusal: refuse(503, 'service_unavailable', 'binding_not_ready', `ModelProviderBinding ${ref.name} is not Ready (${binding.status?.phase ?? 'not yet reconciled'}): ${readyMessage(binding)}`) };
  }
  const notServed = firstDenial(bindingServes(execution, binding, bindingProfileType));
  if (notServed) return { ok: false, refusal: refuse(403, 'permission_error', notServed.rule === 'binding.owner' ? 'binding_owner_mismatch' : 'tenant_mismatch', notServed.message) };
  const pf = profileFact(profile, execution.spec.profileRef.name);
  if (!pf.ready) return { ok: false, refusal: refuse(403, 'permission_error', 'profile_not_ready', pf.message) };
  const verdict = policy(profile!, binding);
  if (!verdict.allowed) {
    const d = firstDenial(verdict.decisions);
    return { ok: false, refusal: refuse(403, 'permission_error', 'policy_denied', `modelProviderUse denied${d ? ` by ${d.rule}: ${d.message}` : ''}`) };
  }
  return { ok: true, binding };
}

function readyMessage(binding: ModelProviderBinding): string {
  return getCondition(binding.status?.conditions, 'Ready')?.message ?? 'no Ready condition';
}

export type ToolCheck = { ok: true; grant: ToolGrantRecord } | { ok: false; refusal: Refusal };

const TOOL = /^[a-z0-9]([a-z0-9._:/-]*[a-z0-9])?$/;

/** Is `action` of `tool` allowed for this execution right now? */
export function checkToolUse(
  execution: LocalAgentExecution,
  tool: unknown,
  action: unknown,
  grants: readonly ToolGrantRecord[],
  now: Date,
  policy: (grant: ToolGrantRecord) => PolicyResult,
): ToolCheck {
  if (typeof tool !== 'string' || tool.length > 253 || !TOOL.test(tool)) return { ok: false, refusal: refuse(400, 'invalid_request_error', 'invalid_tool', 'tool must be a tool reference such as mcp.github/create_issue') };
  if (action !== undefined && (typeof action !== 'string' || action.length === 0 || action.length > 256)) {
    return { ok: false, refusal: refuse(400, 'invalid_request_error', 'invalid_action', 'action must be a non-empty string') };
  }
  const scope = firstDenial(checkAuthority(execution.spec.authority, { operationType: 'agent_machine.execution.start', toolRefs: [tool], now }));
  if (scope) return { ok: false, refusal: refuse(403, 'permission_error', 'scope_not_covered', scope.message) };
  const { delegate, delegator } = execution.spec.authority;
  const forDelegate = grants.filter((g) => g.metadata.namespace === execution.metadata.namespace && g.spec.tool === tool && g.spec.authority?.delegate === delegate);
  // A grant is its delegator's authority for its tenant: someone else's grant to the same
  // delegate serves nobody here, and the refusal says whose it was.
  const inService = (g: ToolGrantRecord) => {
    if (g.spec.revoked || g.status?.state !== 'Active' || isBeingDeleted(g)) return false;
    const expiry = parseExpiry(g.spec.authority.expiresAt);
    return expiry !== undefined && expiry.getTime() > now.getTime();
  };
  const candidates = forDelegate.filter((g) => g.spec.authority.delegator === delegator && g.spec.tenant === execution.spec.tenant);
  if (candidates.length === 0 && forDelegate.length > 0) {
    // Name the nearest miss: a grant in service, if any.
    const other = forDelegate.find(inService) ?? forDelegate[0]!;
    if (other.spec.authority.delegator !== delegator) {
      return { ok: false, refusal: refuse(403, 'permission_error', 'grant_delegator_mismatch', `ToolGrantRecord ${other.metadata.name} grants ${tool} to ${delegate} under the delegation of ${other.spec.authority.delegator}, not of ${delegator} (this execution's delegator): a grant serves only its delegator's executions`) };
    }
    return { ok: false, refusal: refuse(403, 'permission_error', 'tenant_mismatch', `ToolGrantRecord ${other.metadata.name} grants ${tool} for tenant ${other.spec.tenant ?? '(none)'}, not for this execution's tenant ${execution.spec.tenant ?? '(none)'}`) };
  }
  const serving = candidates.filter(inService);
  if (serving.length === 0) {
    const why = candidates.length === 0 ? 'no ToolGrantRecord' : `no Active grant (${candidates.map((g) => `${g.metadata.name}: ${g.spec.revoked ? 'revoked' : (g.status?.state ?? 'Pending')}`).join(', ')})`;
    return { ok: false, refusal: refuse(403, 'permission_error', 'no_active_grant', `${why} grants ${tool} to ${delegate} under the delegation of ${delegator} in ${execution.metadata.namespace}`) };
  }
  const covering = serving.filter((g) => (g.spec.actions?.length ?? 0) === 0 || (typeof action === 'string' && g.spec.actions!.includes(action)));
  if (covering.length === 0) {
    return { ok: false, refusal: refuse(403, 'permission_error', 'action_not_granted', `the Active grants of ${tool} do not cover action ${JSON.stringify(action ?? '')}`) };
  }
  for (const grant of covering) {
    if (policy(grant).allowed) return { ok: true, grant };
  }
  const d = firstDenial(policy(covering[0]!).decisions);
  return { ok: false, refusal: refuse(403, 'permission_error', 'policy_denied', `toolGrant denied${d ? ` by ${d.rule}: ${d.message}` : ''}`) };
}
