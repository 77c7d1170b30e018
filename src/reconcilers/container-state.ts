// ContainerExecutionRecord decisions, pure: admission (once, before any container exists),
// then how the runtime's observation of the container maps to a phase and the next action.
import type { Budget, ContainerExecutionRecord } from '../api/types.generated.ts';
import { parseExpiry } from '../governance/authority.ts';
import { firstDenial, policyDenialReason, type Decision } from '../governance/decision.ts';
import { MIN_MEMORY_BYTES, type FullBudget } from '../governance/budget.ts';
import type { PolicyResult } from '../governance/policy.ts';
import type { ContainerLimits, ContainerObservation } from '../runtimes/container-runtime.ts';
import type { AuthorizationOutcome } from './authorization.ts';
import type { ProfileFact, Tri } from './facts.ts';

export type ContainerPhase = NonNullable<NonNullable<ContainerExecutionRecord['status']>['phase']>;

const TERMINAL: ReadonlySet<ContainerPhase> = new Set(['Succeeded', 'Failed', 'Cancelled', 'Denied']);
export function isTerminalContainerPhase(phase: ContainerPhase | undefined): boolean {
  return phase !== undefined && TERMINAL.has(phase);
}

const MIN_SCRATCH_BYTES = 1024 * 1024;
const DEFAULT_CPU_MILLIS = 1000;
const DEFAULT_PIDS = 256;

export interface AdmissionFacts {
  profile: ProfileFact;
  authorization?: AuthorizationOutcome;
  budget?: { effective: FullBudget; decisions: Decision[] };
  policy?: PolicyResult;
}

export type Admission =
  | { need: 'authorization' | 'budget' | 'policy' }
  | {
      need?: undefined;
      admitted: false;
      /**
       * Not decided: wait (Pending) for something that may still come. A profile that does not
       * exist yet or is not Ready yet holds (GitOps and `kubectl apply -R` create objects in any
       * order, and Denied would be final for what is still a race), and so does a missing
       * admission policy (AuthorityUnverifiable).
       */
      hold?: boolean;
      reason: string;
      message: string;
      authorized: Tri;
      policyAllowed: Tri;
      budgetAvailable: Tri;
      decisions: Decision[];
    }
  | { need?: undefined; admitted: true; effective: FullBudget; decisions: Decision[] };

/** A refusal that is not final: the object waits (Pending), and its message says so. */
function held<T extends { message: string }>(refusal: T): T & { hold: true } {
  return { ...refusal, message: `waiting: ${refusal.message}`, hold: true };
}

/** Profile, then authority and RBAC, then budget, then policy: the first that says no decides. */
export function admitContainer(f: AdmissionFacts): Admission {
  const no = (reason: string, message: string, t: { authorized?: Tri; policyAllowed?: Tri; budgetAvailable?: Tri }, decisions: Decision[] = []) =>
    ({ admitted: false as const, reason, message, authorized: t.authorized ?? 'Unknown', policyAllowed: t.policyAllowed ?? 'Unknown', budgetAvailable: t.budgetAvailable ?? 'Unknown', decisions });
  if (!f.profile.found || !f.profile.ready) return held(no(f.profile.found ? 'ProfileNotReady' : 'ProfileNotFound', f.profile.message, {}));
  if (!f.authorization) return { need: 'authorization' };
  if (!f.authorization.allowed) {
    const refused = no(f.authorization.reason, f.authorization.message, { authorized: 'False' }, f.authorization.decisions);
    // No admission policy yet: nobody can tell who asked, which installing it settles (as for
    // profiles, grants and bindings, which wait Pending too).
    return f.authorization.reason === 'AuthorityUnverifiable' ? held(refused) : refused;
  }
  if (!f.budget) return { need: 'budget' };
  const decisions = [...f.authorization.decisions, ...f.budget.decisions];
  const overBudget = firstDenial(f.budget.decisions);
  if (overBudget) return no('BudgetExceeded', overBudget.message, { authorized: 'True', budgetAvailable: 'False' }, decisions);
  const e = f.budget.effective;
  if (e.sandboxMemoryBytes < MIN_MEMORY_BYTES) {
    return no('BudgetExceeded', `sandboxMemoryBytes ${e.sandboxMemoryBytes} is below the ${MIN_MEMORY_BYTES} bytes a sandbox needs`, { authorized: 'True', budgetAvailable: 'False' }, decisions);
  }
  if (e.wallClockSeconds <= 0) return no('BudgetExceeded', 'wallClockSeconds budget is 0: nothing may run', { authorized: 'True', budgetAvailable: 'False' }, decisions);
  if (!f.policy) return { need: 'policy' };
  const all = [...decisions, ...f.policy.decisions];
  if (!f.policy.allowed) return no(policyDenialReason(f.policy.decisions), firstDenial(f.policy.decisions)?.message ?? 'policy denied', { authorized: 'True', budgetAvailable: 'True', policyAllowed: 'False' }, all);
  return { admitted: true, effective: e, decisions: all };
}

export function limitsFor(record: ContainerExecutionRecord, effective: FullBudget): ContainerLimits {
  return {
    memoryBytes: effective.sandboxMemoryBytes,
    cpuMillis: record.spec.container.cpuMillis ?? DEFAULT_CPU_MILLIS,
    pidsLimit: record.spec.container.pidsLimit ?? DEFAULT_PIDS,
    // tmpfs with size 0 means unbounded: never hand that out.
    scratchBytes: Math.max(MIN_SCRATCH_BYTES, effective.localDiskBytes),
  };
}

export interface RunFacts {
  record: ContainerExecutionRecord;
  now: Date;
  /** When the container started (status.startedAt), for the wall-clock deadline. */
  startedAt?: Date;
  effective: FullBudget;
  /** undefined: the runtime has no container for this record. */
  observation?: ContainerObservation;
  /** Seconds of CPU used so far, when the runtime can tell. */
  cpuSeconds?: number;
  /** The record was admitted and a container was created before (phase Creating/Running). */
  started: boolean;
  /** The Ready reason of the last reconcile: a stop the controller caused keeps its reason. */
  previousReason?: string;
}

export type RunAction = 'create' | 'stop' | 'none';

export interface RunDecision {
  phase: ContainerPhase;
  reason: string;
  message: string;
  action: RunAction;
  requeueAfterMs?: number;
}

// While a container runs its CPU use is checked this often (die events report the end at once).
const RUNNING_RECHECK_MS = 5_000;

export function decideRun(f: RunFacts): RunDecision {
  const spec = f.record.spec;
  const obs = f.observation;
  if (obs?.state === 'exited') {
    // The first cause of a stop wins: an execution that cancels its records because their CPU
    // seconds add up past its budget must not turn this record's own ComputeBudgetExceeded
    // into a cancel.
    if (f.previousReason && STOPPED_BY_CONTROLLER.has(f.previousReason)) {
      return { phase: 'Failed', reason: f.previousReason, message: `stopped by the controller: ${f.previousReason}`, action: 'none' };
    }
    if (spec.cancel) return { phase: 'Cancelled', reason: 'Cancelled', message: 'cancelled; the container stopped', action: 'none' };
    if (obs.oomKilled) return { phase: 'Failed', reason: 'OOMKilled', message: `killed at its memory limit of ${f.effective.sandboxMemoryBytes} bytes (sandboxMemoryBytes)`, action: 'none' };
    if (obs.exitCode === 0) return { phase: 'Succeeded', reason: 'Succeeded', message: 'the container exited 0', action: 'none' };
    return { phase: 'Failed', reason: 'ExitCode', message: `the container exited ${obs.exitCode ?? 'without an exit code'}`, action: 'none' };
  }
  if (spec.cancel) {
    return obs
      ? { phase: 'Running', reason: 'Cancelling', message: 'cancel requested: stopping the container', action: 'stop', requeueAfterMs: 1_000 }
      : { phase: 'Cancelled', reason: 'Cancelled', message: 'cancelled before a container ran', action: 'none' };
  }
  const expiry = parseExpiry(spec.authority.expiresAt);
  if (expiry && expiry.getTime() <= f.now.getTime()) {
    return obs
      ? { phase: 'Running', reason: 'AuthorityExpired', message: `delegation expired at ${spec.authority.expiresAt}: stopping`, action: 'stop', requeueAfterMs: 1_000 }
      : { phase: 'Failed', reason: 'AuthorityExpired', message: `delegation expired at ${spec.authority.expiresAt}`, action: 'none' };
  }
  if (!obs) {
    if (f.started) return { phase: 'Failed', reason: 'ContainerLost', message: 'the container disappeared from the runtime while it ran', action: 'none' };
    return { phase: 'Creating', reason: 'Creating', message: 'creating the container', action: 'create', requeueAfterMs: 1_000 };
  }
  // Created before the record was ever reported started: a controller died between create
  // and start. ensure() adopts and starts it; taken for running, it would wait for a process
  // that never runs. (Once started, 'created' is a Pod still Pending: it is reported as such.)
  if (obs.state === 'created' && !f.started) return { phase: 'Creating', reason: 'Creating', message: 'starting the container created before a restart', action: 'create', requeueAfterMs: 1_000 };
  if (obs.state === 'created') return notRunningYet(obs);
  const deadline = f.startedAt ? f.startedAt.getTime() + f.effective.wallClockSeconds * 1000 : undefined;
  if (deadline !== undefined && f.now.getTime() >= deadline) {
    return { phase: 'Running', reason: 'DeadlineExceeded', message: `ran past its wallClockSeconds budget of ${f.effective.wallClockSeconds} s: stopping`, action: 'stop', requeueAfterMs: 1_000 };
  }
  if (f.cpuSeconds !== undefined && f.cpuSeconds > f.effective.cpuGpuComputeSeconds) {
    return { phase: 'Running', reason: 'ComputeBudgetExceeded', message: `used ${f.cpuSeconds.toFixed(1)} CPU seconds of a ${f.effective.cpuGpuComputeSeconds} s budget: stopping`, action: 'stop', requeueAfterMs: 1_000 };
  }
  const untilDeadline = deadline !== undefined ? deadline - f.now.getTime() : RUNNING_RECHECK_MS;
  return { phase: 'Running', reason: 'Running', message: 'the container is running', action: 'none', requeueAfterMs: Math.max(50, Math.min(RUNNING_RECHECK_MS, untilDeadline)) };
}

/**
 * Created, not running (a Pod the scheduler or kubelet has not started): Pending with the
 * runtime's reason — what `kubectl get pod` says, never Running before a container runs.
 */
export function notRunningYet(obs: ContainerObservation): RunDecision {
  const w = obs.waiting ?? { reason: 'ContainerNotStarted', message: 'the container is created but not running yet' };
  return { phase: 'Pending', reason: w.reason, message: `waiting: ${w.message}`, action: 'none', requeueAfterMs: 2_000 };
}

// A stop the controller caused ends with its own reason rather than the exit code's.
const STOPPED_BY_CONTROLLER: ReadonlySet<string> = new Set(['DeadlineExceeded', 'ComputeBudgetExceeded', 'AuthorityExpired']);

export type { Budget };
