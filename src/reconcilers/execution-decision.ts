// decideExecution: one reconcile of a LocalAgentExecution, pure. Given what was observed (the
// execution, its profile, the records it owns, whether it may take a slot, admission's answer
// once fetched) it says what to do: cancel before start, wait in line, ask for admission, take
// a slot and start the first attempt, stop everything (cancel, deadline, CPU seconds summed over its
// containers past the budget, profile gone, authority lost under a profile that cancels on it),
// start the next attempt, or add the attempt's outcome up (succeeded, cancelled, retry,
// failed). While it runs it also says what was used (refreshed every USED_REFRESH_MS) and
// what each container last printed. The reconciler carries the plan out and writes the status
// it names.
import type { AgentMachineProfile, ContainerExecutionRecord, LocalAgentExecution, LocalAgentExecutionStatus } from '../api/types.generated.ts';
import { getCondition } from '../operator/conditions.ts';
import { metaTime } from '../operator/time.ts';
import { onAuthorityLost } from '../governance/authority-loss.ts';
import { computeSecondsUsed, fitBudget, type FullBudget } from '../governance/budget.ts';
import type { Decision } from '../governance/decision.ts';
import type { Admission } from './container-state.ts';
import { attemptOutcome, holdsSlot, isTerminalExecutionPhase, recordNameFor, type ExecutionPhase } from './execution-state.ts';
import type { Tri } from './facts.ts';
import { BLOCKING_REASONS } from './core/run-projection.ts';

export const START = 'agent_machine.execution.start';
export const CANCEL = 'agent_machine.execution.cancel';

/** The container admission's outcome, decided (no fact left to fetch). */
export type ExecutionAdmission = Exclude<Admission, { need: string }>;

export interface ExecutionObserved {
  execution: LocalAgentExecution;
  now: Date;
  profile: AgentMachineProfile | undefined;
  /** Every ContainerExecutionRecord the execution owns (all attempts). */
  owned: readonly ContainerExecutionRecord[];
  /** May it take one of its profile's slots now (reservations counted)? Before start only. */
  mayTakeSlot?: boolean;
  /** Admission's answer, once the plan asked for it. */
  admission?: ExecutionAdmission;
  /**
   * Authority it was admitted with and has lost since (a grant revoked/expired/deleted, its
   * binding deleted, its delegation expired, its delegator's RBAC removed), said in a message.
   * Observed only while it runs under a profile that cancels on it (AUTHORITY_RECHECK_MS).
   */
  authorityLost?: string;
}

/** How often a running execution whose profile cancels on lost authority has its delegator's RBAC re-checked. */
export const AUTHORITY_RECHECK_MS = 10_000;

/** Is lost authority watched for (and acted on) while this execution runs? */
export function cancelsOnAuthorityLost(profile: AgentMachineProfile | undefined): boolean {
  return profile !== undefined && onAuthorityLost(profile.spec) === 'cancel';
}

export interface ExecutionGates {
  authorized: Tri;
  policyAllowed: Tri;
  budgetAvailable: Tri;
}

export interface ExecutionAction {
  need?: undefined;
  done?: false;
  phase: ExecutionPhase;
  reason: string;
  message: string;
  requeueAfterMs?: number;
  /** The command audited if the phase changes. */
  auditedAs: typeof START | typeof CANCEL;
  gates: ExecutionGates;
  decisions: Decision[];
  effective: FullBudget | undefined;
  /** Reserve a slot (and add the finalizer) before anything else. */
  takeSlot?: boolean;
  /** Create the records of this attempt (those not owned yet). */
  createAttempt?: number;
  /** Records to cancel. */
  cancel: ContainerExecutionRecord[];
  /** Status fields this reconcile sets besides the phase and the gates. */
  status: Partial<LocalAgentExecutionStatus>;
  /**
   * status.budget.used figures this reconcile measures (the gateway's counts are the
   * reconciler's to keep): absent before a container started.
   */
  used?: MeasuredUse;
}

export interface MeasuredUse {
  wallClockSeconds: number;
  cpuGpuComputeSeconds: number;
}

/**
 * How often the used figures of a running execution are refreshed: often enough to watch a
 * long run, rarely enough that a running execution costs one status write per 10 s, not one per
 * CPU-second its records report.
 */
export const USED_REFRESH_MS = 10_000;

/** status.attempts counts attempts started (1 for a run that ran once); records are named by index. */
export function attemptIndex(attempts: number | undefined): number {
  return Math.max(0, (attempts ?? 1) - 1);
}

export type ExecutionPlan = { need: 'admission' } | { need?: undefined; done: true } | ExecutionAction;

const PASSED: ExecutionGates = { authorized: 'True', policyAllowed: 'True', budgetAvailable: 'True' };

export function decideExecution(o: ExecutionObserved): ExecutionPlan {
  const prev = o.execution.status;
  if (isTerminalExecutionPhase(prev?.phase)) return { done: true };
  if (!holdsSlot(prev?.phase)) return beforeStart(o);
  return started(o);
}

function beforeStart(o: ExecutionObserved): ExecutionPlan {
  const ex = o.execution;
  const prev = ex.status;
  const profileName = ex.spec.profileRef.name;
  const decisions = prev?.decisions ?? [];
  const act = (a: Omit<ExecutionAction, 'cancel' | 'status' | 'auditedAs'> & Partial<Pick<ExecutionAction, 'auditedAs' | 'status'>>): ExecutionAction => ({ auditedAs: START, cancel: [], status: {}, ...a });
  if (ex.spec.cancel) return act({ phase: 'Cancelled', reason: 'Cancelled', message: 'cancelled before it started', auditedAs: CANCEL, gates: PASSED, decisions, effective: undefined });
  // Stable while it waits: a message counting the taken slots would be a status write (and a
  // watch event for every client) each time the line moves.
  const queued = (limit: number) => ({ phase: 'Queued' as const, reason: 'WaitingForSlot', message: `all ${limit} agentConcurrency slots of profile ${profileName} are taken; queued in creation order` });
  const a = o.admission;
  if (!a) {
    // Admitted before and not its turn yet: nothing to ask the API server. Admission runs
    // again, fresh, when a slot can be its.
    if (prev?.phase === 'Queued' && o.profile && !o.mayTakeSlot) {
      return act({ ...queued(o.profile.spec.budgetCeilings.agentConcurrency), gates: PASSED, decisions, effective: prev?.budget?.effective as FullBudget | undefined });
    }
    return { need: 'admission' };
  }
  if (!a.admitted && a.hold) return act({ phase: 'Pending', reason: a.reason, message: a.message, requeueAfterMs: 10_000, gates: PASSED, decisions: a.decisions, effective: undefined });
  if (!a.admitted) return act({ phase: 'Denied', reason: a.reason, message: a.message, gates: { authorized: a.authorized, policyAllowed: a.policyAllowed, budgetAvailable: a.budgetAvailable }, decisions: a.decisions, effective: undefined });
  const limit = o.profile!.spec.budgetCeilings.agentConcurrency;
  if (!o.mayTakeSlot) return act({ ...queued(limit), gates: PASSED, decisions: a.decisions, effective: a.effective });
  // The wall clock starts when a container does (started()): time spent waiting for an image
  // or a Secret is not the agent's.
  return act({
    phase: 'Running',
    reason: 'Running',
    message: `started ${ex.spec.containers.length} container(s)`,
    gates: PASSED,
    decisions: a.decisions,
    effective: a.effective,
    takeSlot: true,
    createAttempt: 0,
    status: { startedAt: metaTime(o.now), attempts: 1 },
  });
}

/** Started: drive and add up the current attempt. */
function started(o: ExecutionObserved): ExecutionAction {
  const { execution: ex, now, profile } = o;
  const prev = ex.status!;
  const effective = (prev.budget?.effective as FullBudget | undefined) ?? (profile ? fitBudget(ex.spec.budget, profile.spec.budgetCeilings as FullBudget).effective : undefined);
  const attempt = attemptIndex(prev.attempts);
  const names = new Set(ex.spec.containers.map((c) => recordNameFor(ex.metadata.name!, c.name!, attempt)));
  const current = o.owned.filter((c) => names.has(c.metadata.name!));
  // The deadline is wallClockSeconds after the first container of any attempt started.
  const firstStart = Math.min(...o.owned.map((r) => (r.status?.startedAt ? Date.parse(r.status.startedAt) : Number.POSITIVE_INFINITY)));
  const deadline = prev.deadline ? new Date(prev.deadline) : effective && Number.isFinite(firstStart) ? new Date(firstStart + effective.wallClockSeconds * 1000) : undefined;
  const status = { ...containersStatus(ex, current, attempt), ...(deadline && !prev.deadline ? { deadline: metaTime(deadline) } : {}) };
  // What kept a container from starting, if it was waiting when this reconcile ends it.
  const prevReady = getCondition(prev.conditions, 'Ready');
  // Carried through the Cancelling step, whose own reason replaces the blocking one.
  const wasBlocked = prevReady && BLOCKING_REASONS.has(prevReady.reason) ? ` (it was waiting: ${prevReady.reason}: ${prevReady.message.replace(/^waiting: /, '')})` : (/ \(it was waiting: .*\)$/.exec(prevReady?.message ?? '')?.[0] ?? '');
  const pastDeadline = deadline !== undefined && now.getTime() >= deadline.getTime();
  // Each record stops itself past the whole budget; only the execution sees the sum.
  const cpuUsed = computeSecondsUsed(o.owned);
  const act = (a: Pick<ExecutionAction, 'phase' | 'reason' | 'message'> & Partial<ExecutionAction>): ExecutionAction =>
    withUse({ auditedAs: START, gates: PASSED, decisions: prev.decisions ?? [], effective, cancel: [], status: {}, ...a }, prev.budget?.used, firstStart, cpuUsed, now);
  const overCompute = effective !== undefined && cpuUsed > effective.cpuGpuComputeSeconds;

  const lost = o.authorityLost !== undefined && cancelsOnAuthorityLost(profile) ? o.authorityLost : undefined;
  if (ex.spec.cancel || pastDeadline || overCompute || !profile || lost !== undefined) {
    const reason = ex.spec.cancel ? 'Cancelled' : pastDeadline ? 'DeadlineExceeded' : overCompute ? 'ComputeBudgetExceeded' : !profile ? 'ProfileNotFound' : 'AuthorityLost';
    const cancel = current.filter((c) => !c.spec.cancel);
    if (attemptOutcome(names.size, current) === 'running') {
      return act({ phase: prev.phase!, reason: 'Cancelling', message: `${reason}: stopping the containers${wasBlocked}`, requeueAfterMs: 1_000, cancel, status });
    }
    if (reason === 'ComputeBudgetExceeded') {
      // Exhausted, not stopped by anyone: Failed, as a single container stopped for it is, and never retried.
      return act({ phase: 'Failed', reason, message: `its containers used ${cpuUsed} CPU seconds (summed over every container and attempt) of a ${effective?.cpuGpuComputeSeconds} s cpuGpuComputeSeconds budget`, cancel, status });
    }
    const message =
      reason === 'DeadlineExceeded'
        ? `ran past its wallClockSeconds budget of ${effective?.wallClockSeconds} s`
        : reason === 'Cancelled'
          ? 'cancelled; every container stopped'
          : reason === 'AuthorityLost'
            ? `authority lost while running: ${lost}; profile ${ex.spec.profileRef.name} cancels on it (onAuthorityLost: cancel); every container stopped`
            : `profile ${ex.spec.profileRef.name} was deleted`;
    return act({ phase: 'Cancelled', reason, message: `${message}${wasBlocked}`, auditedAs: CANCEL, cancel, status });
  }
  // Lost RBAC is seen only by asking again: look every AUTHORITY_RECHECK_MS while it runs.
  const recheck = (ms: number | undefined) => (cancelsOnAuthorityLost(profile) ? Math.min(ms ?? AUTHORITY_RECHECK_MS, AUTHORITY_RECHECK_MS) : ms);
  if (prev.phase === 'Retrying' && current.length === 0) {
    return act({ phase: 'Running', reason: 'Running', message: `attempt ${attempt + 1} started`, requeueAfterMs: recheck(untilDeadline(deadline, now)), createAttempt: attempt });
  }
  switch (attemptOutcome(names.size, current)) {
    case 'succeeded':
      return act({ phase: 'Succeeded', reason: 'Succeeded', message: 'every container exited 0', status });
    case 'cancelled':
      return act({ phase: 'Cancelled', reason: 'ContainerCancelled', message: 'a container was cancelled', auditedAs: CANCEL, status });
    case 'failed': {
      const failed = current.find((c) => c.status?.phase === 'Failed' || c.status?.phase === 'Denied');
      const failedReady = getCondition(failed?.status?.conditions, 'Ready');
      const why = `container record ${failed?.metadata.name} ${failed?.status?.phase}: ${failedReady?.message ?? ''}`;
      const maxRetries = ex.spec.retryPolicy?.maxRetries ?? 0;
      if (attempt < maxRetries) {
        const backoff = (ex.spec.retryPolicy?.backoffSeconds ?? 10) * 1000;
        return act({ phase: 'Retrying', reason: 'Retrying', message: `${why}; retry ${attempt + 1} of ${maxRetries} in ${backoff / 1000} s`, requeueAfterMs: backoff, status: { ...status, attempts: attempt + 2 } });
      }
      return act({ phase: 'Failed', reason: failedReady?.reason ?? 'Failed', message: why, status });
    }
    case 'running': {
      // A container that cannot start without someone's change, or one not running yet (a Pod
      // not scheduled): its reason is the execution's, never "containers running".
      const blocked =
        current.find((r) => BLOCKING_REASONS.has(getCondition(r.status?.conditions, 'Ready')?.reason ?? '')) ??
        current.find((r) => r.status?.phase === 'Pending' && r.status.containerId !== undefined && getCondition(r.status.conditions, 'Ready') !== undefined);
      const why = blocked ? getCondition(blocked.status?.conditions, 'Ready')! : undefined;
      if (why) return act({ phase: 'Running', reason: why.reason, message: `waiting: container record ${blocked!.metadata.name}: ${why.message.replace(/^waiting: /, '')}`, requeueAfterMs: recheck(untilDeadline(deadline, now)), status });
      return act({ phase: 'Running', reason: 'Running', message: 'containers running', requeueAfterMs: recheck(untilDeadline(deadline, now)), status });
    }
  }
}

/**
 * The used figures: exact when the execution ends; while it runs, refreshed on each
 * USED_REFRESH_MS step of its wall clock (the CPU figure with it) and kept otherwise, with a
 * requeue at the next step so they move even when nothing else wakes the execution.
 */
export function withUse(a: ExecutionAction, prevUsed: { wallClockSeconds?: number; cpuGpuComputeSeconds?: number } | undefined, firstStart: number, cpuUsed: number, now: Date): ExecutionAction {
  if (!Number.isFinite(firstStart)) return a; // no container started: no time is the agent's yet
  const elapsedMs = Math.max(0, now.getTime() - firstStart);
  if (isTerminalExecutionPhase(a.phase)) return { ...a, used: { wallClockSeconds: Math.round(elapsedMs / 1000), cpuGpuComputeSeconds: cpuUsed } };
  const step = Math.floor(elapsedMs / USED_REFRESH_MS) * (USED_REFRESH_MS / 1000);
  const fresh = prevUsed?.wallClockSeconds !== step || prevUsed.cpuGpuComputeSeconds === undefined;
  const used = fresh ? { wallClockSeconds: step, cpuGpuComputeSeconds: cpuUsed } : { wallClockSeconds: step, cpuGpuComputeSeconds: prevUsed.cpuGpuComputeSeconds! };
  const nextStep = Math.max(50, USED_REFRESH_MS - (elapsedMs % USED_REFRESH_MS));
  return { ...a, used, requeueAfterMs: Math.min(a.requeueAfterMs ?? nextStep, nextStep) };
}

/** Bounded as a record's logTail is: the whole of one record's tail fits. */
export const OUTPUT_TAIL_MAX_CHARS = 4096;

function containersStatus(ex: LocalAgentExecution, current: readonly ContainerExecutionRecord[], attempt: number): Partial<LocalAgentExecutionStatus> {
  return {
    containers: ex.spec.containers.map((c) => {
      const recordName = recordNameFor(ex.metadata.name!, c.name!, attempt);
      const rec = current.find((r) => r.metadata.name === recordName);
      return {
        name: c.name!,
        recordName,
        ...(rec?.status?.phase ? { phase: rec.status.phase } : {}),
        ...(rec?.status?.exitCode !== undefined ? { exitCode: rec.status.exitCode } : {}),
        // Already redacted (secrets, tokens, prompts) when the record's reconciler read it.
        ...(rec?.status?.logTail ? { outputTail: rec.status.logTail.slice(-OUTPUT_TAIL_MAX_CHARS) } : {}),
      };
    }),
  };
}

function untilDeadline(deadline: Date | undefined, now: Date): number | undefined {
  return deadline ? Math.max(50, deadline.getTime() - now.getTime()) : undefined;
}
