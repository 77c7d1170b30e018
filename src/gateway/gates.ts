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
//   the delegator's RBAC (authenticate.ts reauthorize, asynchronous) comes after these.
//   budget               (the ledger) modelCalls / tokens / connectorCalls exhausted → 429
//   authority lost       a running execution's delegation expired, its grant revoked/expired/
//                        deleted, its binding deleted, or (callPermissions, asked by the caller)
//                        its delegator's RBAC removed → 403 authority_lost, audited
import type { AgentMachineProfile, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import type { FullBudget } from '../governance/budget.ts';
import { permissions } from '../governance/access-review.ts';
import { authorityHolds, checkAuthority, expiryMs } from '../governance/authority.ts';
import { grantInService, grantServesExecution, whyGrantLost } from '../governance/authority-loss.ts';
import { firstDenial } from '../governance/decision.ts';
import type { PolicyResult } from '../governance/policy.ts';
import { isTrue } from '../operator/conditions.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import { bindingServes, bindingServesAll, isTerminalExecutionPhase } from '../reconcilers/execution-state.ts';
import { profileFact } from '../reconcilers/facts.ts';
import type { AuthorizationOutcome, Permission } from '../reconcilers/authorization.ts';
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

/** Refusals that mean the execution lost authority it was admitted with: audited as AuthorityLost. */
export const AUTHORITY_LOST_CODES: ReadonlySet<string> = new Set(['authority_lost', 'authority_expired']);

const authorityLost = (message: string): Refusal => refuse(403, 'permission_error', 'authority_lost', `authority lost: ${message}`);

const isRunning = (ex: LocalAgentExecution): boolean => ex.status?.phase === 'Running' || ex.status?.phase === 'Retrying';

/**
 * What RBAC must still allow the delegator for this call: `use` on the profile always, and
 * `grant` on the tool for a tool call. Asked through the access reviewer (allows cached ≤ 10 s).
 */
export function callPermissions(execution: LocalAgentExecution, use: { tool?: string; binding?: string; secret?: string } = {}): Permission[] {
  // As admission asked them (execution-admission.ts, tool-grant-reconciler.ts).
  const ns = execution.metadata.namespace!;
  return [
    permissions.useProfile(execution.spec.profileRef.name),
    ...(use.tool !== undefined ? [permissions.grantTool(use.tool, ns)] : []),
    ...(use.binding !== undefined ? [permissions.useModelProvider(use.binding, ns)] : []),
    ...(use.secret !== undefined ? [permissions.getSecret(use.secret, ns)] : []),
  ];
}

/**
 * The refusal when the delegator's RBAC or the namespace's tenant no longer allows what the
 * call uses: lost authority when the execution was admitted with it, else a plain refusal.
 */
export function rbacRefusal(outcome: AuthorizationOutcome, admittedWithIt = true): Refusal | undefined {
  if (outcome.allowed) return undefined;
  if (admittedWithIt) return authorityLost(`RBAC no longer allows it (${outcome.reason}): ${outcome.message}`);
  const code = outcome.reason === 'TenantMismatch' ? 'tenant_mismatch' : outcome.reason === 'PermissionDenied' ? 'permission_denied' : 'not_authorized';
  return refuse(403, 'permission_error', code, `${outcome.reason}: ${outcome.message}`);
}

/** A refusal names the execution when it is one the audit should record (lost authority). */
export type ExecutionCheck = { ok: true; execution: LocalAgentExecution; effective: FullBudget } | { ok: false; refusal: Refusal; execution?: LocalAgentExecution };

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
  const expiry = expiryMs(execution.spec.authority?.expiresAt);
  if (expiry === undefined || expiry <= now.getTime()) {
    return { ok: false, refusal: { ...authorityLost(`the delegation of execution ${identity.execution} expired at ${execution.spec.authority?.expiresAt}`), code: 'authority_expired' }, execution };
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
  // Admission needed the binding, so a running execution without it has lost it.
  if (!binding || isBeingDeleted(binding)) {
    const lost = `ModelProviderBinding ${ref.name} was deleted`;
    return { ok: false, refusal: isRunning(execution) ? authorityLost(lost) : refuse(403, 'permission_error', 'binding_not_found', binding ? `ModelProviderBinding ${ref.name} is being deleted` : `ModelProviderBinding ${ref.name} not found in namespace ${execution.metadata.namespace}`) };
  }
  if (binding.status?.phase === 'Denied') {
    return { ok: false, refusal: refuse(403, 'permission_error', 'binding_denied', `ModelProviderBinding ${ref.name} is Denied: ${readyMessage(binding)}`) };
  }
  if (!bindingReady(binding)) {
    return { ok: false, refusal: refuse(503, 'service_unavailable', 'binding_not_ready', `ModelProviderBinding ${ref.name} is not Ready (${binding.status?.phase ?? 'not yet reconciled'}): ${readyMessage(binding)}`) };
  }
  const notServed = bindingServesAll(execution, binding, bindingProfileType) ? undefined : firstDenial(bindingServes(execution, binding, bindingProfileType));
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

/**
 * How a connector route asks: only grants with a connector serve it, and `anyAction` judges the
 * grant without an action (an MCP session's initialize or tools/list: each tools/call is
 * judged with its own name).
 */
export interface ToolUseOptions {
  connector?: boolean;
  anyAction?: boolean;
}

/** Is `action` of `tool` allowed for this execution right now? */
export function checkToolUse(
  execution: LocalAgentExecution,
  tool: unknown,
  action: unknown,
  grants: readonly ToolGrantRecord[],
  now: Date,
  policy: (grant: ToolGrantRecord) => PolicyResult,
  options: ToolUseOptions = {},
): ToolCheck {
  if (typeof tool !== 'string' || tool.length > 253 || !TOOL.test(tool)) return { ok: false, refusal: refuse(400, 'invalid_request_error', 'invalid_tool', 'tool must be a tool reference such as mcp.github/create_issue') };
  if (action !== undefined && (typeof action !== 'string' || action.length === 0 || action.length > 256)) {
    return { ok: false, refusal: refuse(400, 'invalid_request_error', 'invalid_action', 'action must be a non-empty string') };
  }
  const asked = { operationType: 'agent_machine.execution.start', toolRefs: [tool], now } as const;
  // The decisions and their messages are built only for a refusal.
  const scope = authorityHolds(execution.spec.authority, asked) ? undefined : firstDenial(checkAuthority(execution.spec.authority, asked));
  if (scope) return { ok: false, refusal: refuse(403, 'permission_error', 'scope_not_covered', scope.message) };
  const { delegate, delegator } = execution.spec.authority;
  const forDelegate = grants.filter((g) => g.metadata.namespace === execution.metadata.namespace && g.spec.tool === tool && g.spec.authority?.delegate === delegate);
  // A grant is its delegator's authority for its tenant: someone else's grant to the same
  // delegate serves nobody here, and the refusal says whose it was.
  const candidates = forDelegate.filter((g) => grantServesExecution(g, execution));
  const serving = candidates.filter((g) => grantInService(g, now));
  if (serving.length === 0) {
    // A tool the execution was admitted with had an Active grant of its delegator then: it was lost since.
    if ((execution.spec.tools ?? []).includes(tool)) {
      return { ok: false, refusal: authorityLost(`the ToolGrantRecord granting ${tool} to ${delegate} was lost: ${whyGrantLost(candidates, now)}`) };
    }
    if (candidates.length === 0 && forDelegate.length > 0) {
      // Name the nearest miss: a grant in service, if any.
      const other = forDelegate.find((g) => grantInService(g, now)) ?? forDelegate[0]!;
      if (other.spec.authority.delegator !== delegator) {
        return { ok: false, refusal: refuse(403, 'permission_error', 'grant_delegator_mismatch', `ToolGrantRecord ${other.metadata.name} grants ${tool} to ${delegate} under the delegation of ${other.spec.authority.delegator}, not of ${delegator} (this execution's delegator): a grant serves only its delegator's executions`) };
      }
      return { ok: false, refusal: refuse(403, 'permission_error', 'tenant_mismatch', `ToolGrantRecord ${other.metadata.name} grants ${tool} for tenant ${other.spec.tenant ?? '(none)'}, not for this execution's tenant ${execution.spec.tenant ?? '(none)'}`) };
    }
    const why = candidates.length === 0 ? 'no ToolGrantRecord' : `no Active grant (${candidates.map((g) => `${g.metadata.name}: ${g.spec.revoked ? 'revoked' : (g.status?.state ?? 'Pending')}`).join(', ')})`;
    return { ok: false, refusal: refuse(403, 'permission_error', 'no_active_grant', `${why} grants ${tool} to ${delegate} under the delegation of ${delegator} in ${execution.metadata.namespace}`) };
  }
  const connected = options.connector ? serving.filter((g) => g.spec.connector !== undefined) : serving;
  if (connected.length === 0) {
    return { ok: false, refusal: refuse(403, 'permission_error', 'no_connector', `the Active grants of ${tool} name no connector: the gateway has nowhere to forward the call`) };
  }
  const covering = connected.filter((g) => options.anyAction === true || (g.spec.actions?.length ?? 0) === 0 || (typeof action === 'string' && g.spec.actions!.includes(action)));
  if (covering.length === 0) {
    return { ok: false, refusal: refuse(403, 'permission_error', 'action_not_granted', `the Active grants of ${tool} do not cover action ${JSON.stringify(action ?? '')}`) };
  }
  for (const grant of covering) {
    if (policy(grant).allowed) return { ok: true, grant };
  }
  const d = firstDenial(policy(covering[0]!).decisions);
  return { ok: false, refusal: refuse(403, 'permission_error', 'policy_denied', `toolGrant denied${d ? ` by ${d.rule}: ${d.message}` : ''}`) };
}
