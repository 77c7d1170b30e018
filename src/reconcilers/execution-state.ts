// LocalAgentExecution decisions, pure: names of the container records an attempt owns, how
// their phases add up to the execution's, what a modelProviderRef means at admission, and
// decideExecution, which turns everything observed in one reconcile into one plan.
import { createHash } from 'node:crypto';
import type { ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import { allow, deny, type Decision } from '../governance/decision.ts';
import type { PolicyResult } from '../governance/policy.ts';
import { getCondition } from '../operator/conditions.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import { isTerminalContainerPhase } from './container-state.ts';

export type ExecutionPhase = NonNullable<NonNullable<LocalAgentExecution['status']>['phase']>;

const TERMINAL: ReadonlySet<ExecutionPhase> = new Set(['Succeeded', 'Failed', 'Cancelled', 'Denied']);
export function isTerminalExecutionPhase(phase: ExecutionPhase | undefined): boolean {
  return phase !== undefined && TERMINAL.has(phase);
}

/** Phases in which an execution holds one of its profile's agentConcurrency slots. */
export function holdsSlot(phase: ExecutionPhase | undefined): boolean {
  return phase === 'Running' || phase === 'Retrying';
}

/** Deterministic (so a restart finds them) and within the 63 characters names may have. */
export function recordNameFor(execution: string, container: string, attempt: number): string {
  const base = `${execution}-${container}${attempt > 0 ? `-r${attempt}` : ''}`;
  if (base.length <= 63) return base;
  const hash = createHash('sha256').update(base).digest('hex').slice(0, 8);
  return `${base.slice(0, 54).replace(/-+$/, '')}-${hash}`;
}

export type AttemptOutcome = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One attempt = one record per container. Missing records count as still to come (running). */
export function attemptOutcome(expected: number, records: readonly ContainerExecutionRecord[]): AttemptOutcome {
  const phases = records.map((r) => r.status?.phase);
  if (records.length < expected || phases.some((p) => !isTerminalContainerPhase(p))) return 'running';
  if (phases.every((p) => p === 'Succeeded')) return 'succeeded';
  if (phases.some((p) => p === 'Cancelled') && !phases.some((p) => p === 'Failed' || p === 'Denied')) return 'cancelled';
  return 'failed';
}

export type ModelProviderAdmission =
  | { hold: true; reason: string; message: string }
  | { hold: false; decisions: Decision[] };

/**
 * What an execution's modelProviderRef means at admission. A binding that does not exist yet
 * holds the execution (GitOps applies objects in any order; a Denied execution could not be
 * retried); a Denied binding, or one the execution's own profile may not use, denies it. A
 * binding that exists but is not Ready yet admits: the gateway answers 503 until it is, as it
 * does whenever a Ready binding's endpoint goes away mid-run.
 */
export function admitModelProvider(
  ex: LocalAgentExecution,
  binding: ModelProviderBinding | undefined,
  policy: (b: ModelProviderBinding) => PolicyResult,
  bindingProfileType?: string,
): ModelProviderAdmission {
  const ref = ex.spec.modelProviderRef;
  if (!ref) return { hold: false, decisions: [] };
  const name = `${ex.metadata.namespace}/${ref.name}`;
  if (!binding || isBeingDeleted(binding)) {
    return { hold: true, reason: 'ModelProviderBindingNotFound', message: `waiting for ModelProviderBinding ${name}: it does not exist${binding ? ' (it is being deleted)' : ''}` };
  }
  if (binding.status?.phase === 'Denied') {
    const why = getCondition(binding.status.conditions, 'Ready')?.message ?? 'Denied';
    return { hold: false, decisions: [deny('modelProviderUse', 'binding.usable', `ModelProviderBinding ${name} is Denied: ${why}`)] };
  }
  const own = bindingServes(ex, binding, bindingProfileType);
  return { hold: false, decisions: [allow('modelProviderUse', 'binding.usable', `ModelProviderBinding ${name} exists and is not Denied`), ...own, ...policy(binding).decisions] };
}

/**
 * Whose executions a binding serves, beyond RBAC's `use` on it: only its own tenant's, and a
 * user-owned binding (one bound under a user_owned_model profile: someone's personal model
 * account) only its owner's. Asked at admission and again by the gateway on every call.
 */
/** Whether bindingServes allows it all, without building its decisions (the gateway asks per call). */
export function bindingServesAll(ex: LocalAgentExecution, binding: ModelProviderBinding, bindingProfileType: string | undefined): boolean {
  return binding.spec.tenant === ex.spec.tenant && (bindingProfileType !== 'user_owned_model' || binding.spec.owner === ex.spec.authority.delegator);
}

export function bindingServes(ex: LocalAgentExecution, binding: ModelProviderBinding, bindingProfileType: string | undefined): Decision[] {
  const name = `${binding.metadata.namespace}/${binding.metadata.name}`;
  const delegator = ex.spec.authority.delegator;
  const tenant = binding.spec.tenant === ex.spec.tenant
    ? allow('modelProviderUse', 'binding.tenant', `ModelProviderBinding ${name} serves tenant ${ex.spec.tenant ?? '(none)'}`)
    : deny('modelProviderUse', 'binding.tenant', `ModelProviderBinding ${name} belongs to tenant ${binding.spec.tenant ?? '(none)'}, not to this execution's tenant ${ex.spec.tenant ?? '(none)'}: a binding serves only its own tenant`);
  if (bindingProfileType !== 'user_owned_model') return [tenant];
  const owner = binding.spec.owner === delegator
    ? allow('modelProviderUse', 'binding.owner', `user-owned ModelProviderBinding ${name} is owned by the execution's delegator ${delegator}`)
    : deny('modelProviderUse', 'binding.owner', `ModelProviderBinding ${name} is user-owned by ${binding.spec.owner}, not by this execution's delegator ${delegator}: a user-owned model serves only its owner`);
  return [tenant, owner];
}

/**
 * The grant that lets an execution use a tool: Active, for the same delegate, under the same
 * delegator (a grant is its delegator's authority, not the namespace's) and of the same tenant.
 * When none fits, the denial names the nearest miss, so "bob named alice's delegate" reads as
 * such. `grants` are the tool's grants in the execution's namespace.
 */
export function admitTool(ex: LocalAgentExecution, tool: string, grants: readonly ToolGrantRecord[]): Decision {
  const { delegate, delegator } = ex.spec.authority;
  const ns = ex.metadata.namespace;
  const active = grants.filter((g) => g.status?.state === 'Active' && g.spec.authority.delegate === delegate);
  const own = active.filter((g) => g.spec.authority.delegator === delegator);
  const fit = own.find((g) => g.spec.tenant === ex.spec.tenant);
  if (fit) return allow('toolGrant', 'grant.active', `tool ${tool} granted to ${delegate} by ${delegator} (${fit.metadata.name})`);
  if (own[0]) {
    return deny('toolGrant', 'grant.tenant', `ToolGrantRecord ${ns}/${own[0].metadata.name} grants tool ${tool} for tenant ${own[0].spec.tenant ?? '(none)'}, not for this execution's tenant ${ex.spec.tenant ?? '(none)'}: a grant serves only its own tenant`);
  }
  if (active[0]) {
    return deny('toolGrant', 'grant.delegator', `ToolGrantRecord ${ns}/${active[0].metadata.name} grants tool ${tool} to ${delegate} under the delegation of ${active[0].spec.authority.delegator}, not of ${delegator} (this execution's delegator): a grant serves only its delegator's executions`);
  }
  return deny('toolGrant', 'grant.active', `no Active ToolGrantRecord in ${ns} grants tool ${tool} to ${delegate} under the delegation of ${delegator}`);
}
