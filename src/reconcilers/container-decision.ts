// decideContainer: what one reconcile of an admitted ContainerExecutionRecord does with what
// the runtime showed (the container, its CPU use) and, after a create, what creating it gave:
// create or adopt it, stop it (deadline, compute budget, expired delegation, cancel), record
// its end (exit code, OOM kill, log tail) and remove it, or wait. Pure; decideRun
// (container-state.ts) maps an observation to a phase.
import type { ContainerExecutionRecord, ContainerExecutionRecordStatus } from '../api/types.generated.ts';
import { metaTime } from '../operator/time.ts';
import type { FullBudget } from '../governance/budget.ts';
import type { ContainerObservation } from '../runtimes/container-runtime.ts';
import { decideRun, isTerminalContainerPhase, notRunningYet, type RunDecision } from './container-state.ts';

/** Why a container could not be created this time; the record waits (Pending) and retries. */
export interface CreateHeld {
  held: 'SecretNotFound' | 'ImageNotPresent';
  message: string;
}

export interface ContainerObserved {
  record: ContainerExecutionRecord;
  now: Date;
  effective: FullBudget;
  /** The record was admitted and its container created before (phase Creating/Running). */
  started: boolean;
  runtime: string;
  observation?: ContainerObservation;
  cpuSeconds?: number;
  /** After a 'create' plan: the container as ensure() returned it, or why there is none. */
  created?: ContainerObservation | CreateHeld;
}

export interface ContainerPlan extends RunDecision {
  /** The container finished: read its log tail for status, then remove it. */
  finished: boolean;
  /** Status fields from the runtime (runtime, CPU used, container id, times, exit, OOM). */
  status: Partial<ContainerExecutionRecordStatus>;
}

// Held, not failed: the Secret may be created, the image loaded into the engine later
// (nothing is pulled).
const HELD_RETRY_MS: Record<CreateHeld['held'], number> = { SecretNotFound: 10_000, ImageNotPresent: 30_000 };

export function decideContainer(o: ContainerObserved): ContainerPlan {
  const prev = o.record.status;
  const base: Partial<ContainerExecutionRecordStatus> = { runtime: o.runtime, ...(o.cpuSeconds !== undefined ? { cpuGpuComputeSecondsUsed: Math.ceil(o.cpuSeconds) } : {}) };
  const plan = (d: RunDecision, obs: ContainerObservation | undefined, previousStartedAt?: string): ContainerPlan => ({
    ...d,
    finished: isTerminalContainerPhase(d.phase) && obs !== undefined,
    status: { ...base, ...(obs ? observed(obs, o.now, previousStartedAt) : {}) },
  });
  const created = o.created;
  if (created && 'held' in created) return plan({ phase: 'Pending', reason: created.held, message: created.message, action: 'none', requeueAfterMs: HELD_RETRY_MS[created.held] }, undefined);
  // Created but not running (a Pod not scheduled or pulling): Pending with the runtime's reason.
  if (created && created.state === 'created') return plan(notRunningYet(created), created);
  if (created && created.state !== 'exited') return plan({ phase: 'Running', reason: 'Running', message: 'the container is running', action: 'none', requeueAfterMs: 1_000 }, created);
  // Exited before ensure() returned (a quick agent): finished like any exited container.
  if (created) return plan(decideRun({ record: o.record, now: o.now, effective: o.effective, observation: created, started: true }), created, prev?.startedAt);
  const d = decideRun({
    record: o.record,
    now: o.now,
    startedAt: prev?.startedAt ? new Date(prev.startedAt) : undefined,
    effective: o.effective,
    observation: o.observation,
    cpuSeconds: o.cpuSeconds,
    started: o.started,
    previousReason: prev?.conditions?.find((c) => c.type === 'Ready')?.reason,
  });
  return plan(d, o.observation, prev?.startedAt);
}

function observed(obs: ContainerObservation, now: Date, previousStartedAt?: string): Partial<ContainerExecutionRecordStatus> {
  // Not running yet: no start time, so wallClockSeconds has not started either.
  const startedAt = previousStartedAt ?? (obs.startedAt ? metaTime(new Date(obs.startedAt)) : obs.state === 'created' ? undefined : metaTime(now));
  return {
    containerId: obs.id,
    ...(obs.imageDigest ? { imageDigest: obs.imageDigest } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(obs.finishedAt ? { finishedAt: metaTime(new Date(obs.finishedAt)) } : {}),
    ...(obs.exitCode !== undefined ? { exitCode: obs.exitCode } : {}),
    ...(obs.state === 'exited' ? { oomKilled: obs.oomKilled === true } : {}),
  };
}
