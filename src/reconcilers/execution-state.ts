// LocalAgentExecution decisions, pure: names of the container records an attempt owns, how
// their phases add up to the execution's, what a modelProviderRef means at admission, and
// decideExecution, which turns everything observed in one reconcile into one plan.
import { createHash } from 'node:crypto';
import type { ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding } from '../api/types.generated.ts';
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
export function admitModelProvider(ex: LocalAgentExecution, binding: ModelProviderBinding | undefined, policy: (b: ModelProviderBinding) => PolicyResult): ModelProviderAdmission {
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
  return { hold: false, decisions: [allow('modelProviderUse', 'binding.usable', `ModelProviderBinding ${name} exists and is not Denied`), ...policy(binding).decisions] };
}
