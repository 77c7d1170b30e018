// metav1.Condition bookkeeping (apimachinery's meta.SetStatusCondition), pure.
//
// lastTransitionTime moves only when status flips: that is what it means, and it keeps a
// reconcile that recomputes the same conditions from producing a different status, so the
// status writer can skip the write instead of looping on its own updates.
import type { Condition } from '../api/types.generated.ts';
import { metaTime } from './time.ts';

export type { Condition } from '../api/types.generated.ts';
export type ConditionStatus = Condition['status'];

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  /** CamelCase, machine-readable (metav1 requires a non-empty reason). */
  reason: string;
  message?: string;
}

/**
 * Returns a new array with `input` set: an existing condition of the same type is replaced
 * in place (order is kept, so diffs stay small), a new one is appended.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  observedGeneration?: number,
  now: Date = new Date(),
): Condition[] {
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    lastTransitionTime:
      existing && existing.status === input.status ? existing.lastTransitionTime : metaTime(now),
    reason: input.reason,
    message: input.message ?? '',
  };
  if (!existing) return [...list.map((c) => ({ ...c })), next];
  return list.map((c) => (c.type === input.type ? next : { ...c }));
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type).map((c) => ({ ...c }));
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

export function isFalse(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'False';
}
