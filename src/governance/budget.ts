// Budgets: a profile sets ceilings, an execution asks within them, the gateway and runtimes
// count usage against the effective budget. Pure arithmetic over the eight upstream dimensions.
//
// Where each dimension is enforced (this file only fits requests to ceilings):
//   modelCalls            gateway/ledger.ts UsageLedger.reserve('modelCall'), per forwarded call
//                         (gateway/model-call.ts)
//   tokens                gateway/ledger.ts UsageLedger.reserve (none left: refused) with the
//                         per-call hold and max_tokens cap from gateway/token-allowance.ts
//                         tokenAllowance, planned in gateway/model-call-plan.ts
//   connectorCalls        gateway/ledger.ts UsageLedger.reserve('connectorCall'), per
//                         /v1/tools/authorize call (gateway/tool-authorization.ts; tools that
//                         skip the gateway are not counted)
//   cpuGpuComputeSeconds  reconcilers/container-state.ts decideRun (stop when the runtime's
//                         cpuSeconds passes it), per container, and reconcilers/execution-decision.ts
//                         decideExecution on the sum over an execution's containers and attempts
//                         (computeSecondsUsed); the kubernetes runtime reports no CPU time, so
//                         there it is not enforced; GPUs are not counted
//   localDiskBytes        reconcilers/container-state.ts limitsFor → the runtime's /tmp tmpfs
//                         size (runtimes/docker/create-options.ts, runtimes/kubernetes/pod.ts),
//                         per container: an execution's containers each get a share
//                         (containerShare, reconcilers/execution-records.ts)
//   sandboxMemoryBytes    reconcilers/container-state.ts limitsFor → the runtime's memory limit
//                         (same two files, same share; admitContainer and fitExecutionBudget
//                         refuse less than a sandbox needs)
//   wallClockSeconds      three places: the execution's deadline (reconcilers/execution-decision.ts
//                         decideExecution, status.deadline), each container's (reconcilers/container-state.ts
//                         decideRun) and the Pod's activeDeadlineSeconds (runtimes/kubernetes/pod.ts)
//   agentConcurrency      reconcilers/execution-slots.ts mayTakeSlot, asked by the execution
//                         reconciler before decideExecution starts one, per profile; container
//                         records made without an execution take no slot
import type { Budget } from '../api/types.generated.ts';
import { allow, deny, type Decision } from './decision.ts';

export const BUDGET_GATE = 'budget';

/** The upstream WorkspaceOperationContract's dimensions, in its order. Every loop over a budget uses this. */
export const BUDGET_DIMENSIONS = [
  'modelCalls',
  'tokens',
  'connectorCalls',
  'cpuGpuComputeSeconds',
  'localDiskBytes',
  'sandboxMemoryBytes',
  'wallClockSeconds',
  'agentConcurrency',
] as const satisfies readonly (keyof Budget)[];

export type BudgetDimension = (typeof BUDGET_DIMENSIONS)[number];

/** Below this memory limit no sandbox starts. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
export type FullBudget = Required<Budget>;

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Missing dimensions take the ceiling; a dimension above its ceiling is denied. `effective`
 * never exceeds a ceiling, but it is only meaningful when every decision allows.
 */
export function fitBudget(requested: Budget | undefined, ceilings: FullBudget): { effective: FullBudget; decisions: Decision[] } {
  const effective = {} as FullBudget;
  const decisions: Decision[] = [];
  for (const dimension of BUDGET_DIMENSIONS) {
    const ceiling = ceilings?.[dimension];
    const asked = requested?.[dimension];
    const rule = `budget.${dimension}`;
    if (!isCount(ceiling)) {
      // A profile without a usable ceiling bounds nothing: treat the dimension as closed.
      effective[dimension] = 0;
      decisions.push(deny(BUDGET_GATE, rule, `profile has no valid ${dimension} ceiling (${JSON.stringify(ceiling)})`));
      continue;
    }
    if (asked === undefined) {
      effective[dimension] = ceiling;
      continue;
    }
    if (!isCount(asked)) {
      effective[dimension] = 0;
      decisions.push(deny(BUDGET_GATE, rule, `requested ${dimension} ${JSON.stringify(asked)} is not a non-negative integer`));
      continue;
    }
    effective[dimension] = Math.min(asked, ceiling);
    if (asked > ceiling) {
      decisions.push(deny(BUDGET_GATE, rule, `requested ${dimension} ${asked} exceeds the profile ceiling ${ceiling}`));
    }
  }
  // One summary decision instead of eight: status.decisions holds 32 entries for all gates.
  if (decisions.length === 0) decisions.push(allow(BUDGET_GATE, 'budget.ceilings', 'requested budget fits the profile ceilings'));
  return { effective, decisions };
}

function usedOf(used: Budget, dimension: BudgetDimension): number {
  const value = used[dimension];
  return isCount(value) ? value : 0;
}

/** What is left per dimension, never negative. */
export function remaining(effective: FullBudget, used: Budget): FullBudget {
  const left = {} as FullBudget;
  for (const dimension of BUDGET_DIMENSIONS) left[dimension] = Math.max(0, effective[dimension] - usedOf(used, dimension));
  return left;
}

/** The first dimension (upstream order) whose usage is past its budget, if any. */
export function exceededDimension(effective: FullBudget, used: Budget): BudgetDimension | undefined {
  return wouldExceed(effective, used, {});
}

/**
 * The first dimension that `increment` more usage would push past the budget: what the gateway
 * asks before forwarding a call (`{ modelCalls: 1 }`) and the scheduler before starting one
 * more execution (`{ agentConcurrency: 1 }`).
 */
export function wouldExceed(effective: FullBudget, used: Budget, increment: Budget): BudgetDimension | undefined {
  return BUDGET_DIMENSIONS.find((d) => usedOf(used, d) + usedOf(increment, d) > effective[d]);
}

/**
 * An execution's budget covers all its containers together. Memory and scratch disk are split
 * evenly (the sum of the containers' limits never exceeds the execution's); the other
 * dimensions are one pool: CPU seconds are summed over every container (and every attempt) by
 * the execution, the deadline is the execution's, calls are counted by the gateway per
 * execution.
 */
export function containerShare(effective: FullBudget, containers: number): FullBudget {
  const n = Math.max(1, containers);
  return { ...effective, sandboxMemoryBytes: Math.floor(effective.sandboxMemoryBytes / n), localDiskBytes: Math.floor(effective.localDiskBytes / n) };
}

/**
 * fitBudget for an execution of `containers` containers: also denies a memory budget whose
 * even share is below what one sandbox needs, since every container would be refused.
 */
export function fitExecutionBudget(requested: Budget | undefined, ceilings: FullBudget, containers: number): { effective: FullBudget; decisions: Decision[] } {
  const fit = fitBudget(requested, ceilings);
  if (containers <= 1 || fit.decisions.some((d) => !d.allowed)) return fit;
  const share = containerShare(fit.effective, containers).sandboxMemoryBytes;
  if (share >= MIN_MEMORY_BYTES) return fit;
  const message = `sandboxMemoryBytes ${fit.effective.sandboxMemoryBytes} split over ${containers} containers is ${share} bytes each, below the ${MIN_MEMORY_BYTES} bytes a sandbox needs`;
  return { effective: fit.effective, decisions: [deny(BUDGET_GATE, 'budget.sandboxMemoryBytes', message)] };
}

/** CPU seconds used by an execution: the sum over its containers' records, every attempt. */
export function computeSecondsUsed(records: readonly { status?: { cpuGpuComputeSecondsUsed?: number } }[]): number {
  return records.reduce((sum, r) => sum + (isCount(r.status?.cpuGpuComputeSecondsUsed) ? r.status!.cpuGpuComputeSecondsUsed! : 0), 0);
}
