// LocalAgentExecution (agent_machine.execution.start / .cancel): admits the run (profile,
// authority and RBAC, budget, every container's policy, an Active grant for every tool), waits
// in creation order for one of the profile's agentConcurrency slots (execution-slots.ts), then
// owns one ContainerExecutionRecord per container per attempt and adds their outcomes up:
// retries within retryPolicy, cancels at the wall-clock deadline (DeadlineExceeded), on
// spec.cancel, or on lost authority when its profile says so (AuthorityLost). What to do is decided by decideExecution (execution-decision.ts); this file
// observes, carries the plan out and settles the status.
import type { ContainerExecutionRecord, LocalAgentExecution, ToolGrantRecord } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { Controller, ownerKeys } from '../operator/controller.ts';
import { hasFinalizer } from '../operator/finalizers.ts';
import { objectKey } from '../operator/resource.ts';
import { metaTime } from '../operator/time.ts';
import { gatewayCounts } from '../gateway/ledger.ts';
import type { ReconcilerDeps } from './deps.ts';
import { admitExecution } from './execution-admission.ts';
import { CANCEL, cancelsOnAuthorityLost, decideExecution, START, type ExecutionAction, type ExecutionObserved, type MeasuredUse } from './execution-decision.ts';
import { removePrompts } from '../redaction/prompt-matcher.ts';
import { countExecutions } from './execution-counts.ts';
import { isTerminalExecutionPhase, type ExecutionPhase } from './execution-state.ts';
import { cancelRecord, createAttempt, deleteRecord } from './execution-records.ts';
import { ExecutionSlots } from './execution-slots.ts';
import { BY_EXECUTION_TOOL, BY_MODEL_PROVIDER, BY_OWNER_UID, BY_PROFILE, BY_TOOL, indexed } from './indexes.ts';
import { observeAuthorityLoss } from './execution-authority.ts';
import { DeletedWhileWaiting } from './deleted-while-waiting.ts';
import type { GovernedKind } from './core/governed-kind.ts';
import { RUN_PROJECTION, runWarns } from './core/run-projection.ts';
import { finalizeIfDeleted, withFinalizer } from './core/finalizer.ts';
import { settle } from './core/settle.ts';
import { budgetCondition } from './core/status-parts.ts';

const KIND: GovernedKind<LocalAgentExecution, ExecutionPhase> = {
  resource: RESOURCES.LocalAgentExecution,
  phaseOf: (e) => e.status?.phase,
  projection: {
    ...RUN_PROJECTION,
    Queued: { state: 'queued', event: 'progress', outcome: 'queued', warning: false },
    Retrying: { state: 'retrying', event: 'retry', outcome: 'started', warning: false },
  },
  readyPhase: 'Succeeded',
  eventReason: { Running: 'Started' },
  auditOn: 'phase',
  countsDenial: (phase) => phase === 'Denied',
  warns: runWarns,
};

export function executionController(deps: ReconcilerDeps): Controller {
  const { executions, containers, profiles } = deps.informers;
  const slots = new ExecutionSlots(executions);
  // The finalizer is added when an execution takes a slot: before that it owns nothing to clean
  // up, and a burst of 1,000 admissions should not cost 1,000 more writes. Deleting one that
  // was admitted (or held) but never started is still audited, from its last copy seen here.
  const deletedWhileWaiting = new DeletedWhileWaiting(executions);
  // Looked up by index: scanning every record (or execution) per reconcile is quadratic at
  // 1,000 executions.
  const recordsOwnedBy = indexed(containers, BY_OWNER_UID);
  const ownedBy = (uid: string | undefined): ContainerExecutionRecord[] => (uid ? recordsOwnedBy(uid) : []);
  const executionsUnder = indexed(executions, BY_PROFILE);
  const executionsUsing = indexed(executions, BY_MODEL_PROVIDER);
  const executionsWithTool = indexed(executions, BY_EXECUTION_TOOL);
  const grantsOf = indexed(deps.informers.grants, BY_TOOL);
  const limitOf = (profile: string) => profiles.get(profile)?.spec.budgetCeilings.agentConcurrency;
  deps.metrics.trackExecutions(() => countExecutions(executions.list()));

  return new Controller({
    kind: 'LocalAgentExecution',
    informer: executions,
    logger: deps.logger,
    metrics: deps.metrics,
    // Admission is a few API round trips and an fsync, mostly waiting: more in flight is more
    // throughput (1,000 executions created at once), and slots are reserved synchronously.
    concurrency: 16,
    watches: [
      { informer: containers, map: ownerKeys('LocalAgentExecution', true) },
      // A binding appearing (or changing) decides the executions held for it; one deleted, those
      // running on it (lost authority).
      { informer: deps.informers.bindings, map: (b) => executionsUsing(objectKey(b)).filter((e) => (e.status?.phase ?? 'Pending') === 'Pending' || isRunning(e)).map(objectKey) },
      // A grant revoked, expired or deleted: the running executions admitted with its tool.
      { informer: deps.informers.grants, map: (g) => executionsWithTool(`${g.metadata!.namespace}/${(g as ToolGrantRecord).spec.tool}`).filter(isRunning).map(objectKey) },
      { informer: profiles, map: (p) => executionsUnder(p.metadata!.name!).filter((e) => !isTerminalExecutionPhase(e.status?.phase)).map(objectKey) },
      // A finished or deleted execution frees a slot (or a denied one its place in line): wake
      // the first ones in line under its profile, and only those.
      { informer: executions, map: (e) => slots.toWake(e as LocalAgentExecution, limitOf((e as LocalAgentExecution).spec.profileRef.name) ?? 1) },
    ],
    reconcile: async (key) => {
      const found = executions.get(key);
      if (!found) {
        slots.release(key);
        const gone = deletedWhileWaiting.take(key);
        if (gone) await auditCancel(deps, gone, 'execution deleted before it started: nothing ran');
        return;
      }
      const owned = ownedBy(found.metadata.uid);
      const deleted = await finalizeIfDeleted(deps, KIND.resource, found, async (ex) => {
        if (!isTerminalExecutionPhase(ex.status?.phase)) await auditCancel(deps, ex, 'execution deleted while it was not finished: its containers are removed');
        // No garbage collector can be assumed (a bare control plane has none): delete what we own.
        await Promise.all(owned.map((c) => deleteRecord(deps, c)));
      });
      if (deleted) {
        if (hasFinalizer(found)) slots.release(key);
        return;
      }
      const profileName = found.spec.profileRef.name;
      const profile = profiles.get(profileName);
      const observed: ExecutionObserved = { execution: found, now: deps.clock(), profile, owned };
      if (isRunning(found) && cancelsOnAuthorityLost(profile)) {
        const lost = await observeAuthorityLoss(deps, found, observed.now, (tool) => grantsOf(`${found.metadata.namespace}/${tool}`));
        if (lost !== undefined) observed.authorityLost = lost;
      }
      // Only a Queued execution asks for its turn before admission (ExecutionObserved.mayTakeSlot).
      if (found.status?.phase === 'Queued' && profile) observed.mayTakeSlot = slots.mayTake(profileName, key, profile.spec.budgetCeilings.agentConcurrency);
      let plan = decideExecution(observed);
      if (plan.need === 'admission') {
        observed.admission = await admitExecution(deps, found, observed.now);
        // Decided and reserved with no await in between: two reconciles never take one slot.
        if (observed.admission.admitted) observed.mayTakeSlot = slots.mayTake(profileName, key, profile!.spec.budgetCeilings.agentConcurrency);
        plan = decideExecution(observed);
      }
      if (plan.need !== undefined) throw new Error(`execution decision still needs ${plan.need}`);
      if (plan.done) return slots.release(key, profileName);
      let ex = found;
      if (plan.takeSlot) {
        slots.reserve(profileName, key);
        const held = await withFinalizer(deps, KIND.resource, ex);
        if (!held) return slots.release(key, profileName);
        ex = held;
      }
      await Promise.all(plan.cancel.map((c) => cancelRecord(deps, c)));
      if (plan.createAttempt !== undefined) {
        if (!plan.effective) throw new Error('an attempt needs the effective budget to split over its containers');
        await createAttempt(deps, ex, plan.createAttempt, owned, plan.effective);
      }
      return (await settleExecution(ex, plan, observed.now)).result;
    },
  });

  function settleExecution(ex: LocalAgentExecution, plan: ExecutionAction, now: Date) {
    const prev = ex.status;
    const terminal = isTerminalExecutionPhase(plan.phase);
    const effective = plan.effective;
    // The records' tails were redacted when read; prompts the gateway has seen since are
    // removed here as they are from every message.
    const prompts = deps.prompts?.matcher([ex.metadata.uid!]);
    const containers = plan.status.containers && prompts ? plan.status.containers.map((c) => (c.outputTail ? { ...c, outputTail: removePrompts(c.outputTail, prompts) } : c)) : plan.status.containers;
    return settle(deps, KIND, ex, {
      now,
      verdict: {
        ...plan,
        operationType: plan.phase === 'Cancelled' ? CANCEL : START,
        ...plan.gates,
        conditions: [budgetCondition(plan.gates.budgetAvailable, plan.message)],
      },
      fields: {
        ...prev,
        ...plan.status,
        ...(containers ? { containers } : {}),
        phase: plan.phase,
        // The gateway counts modelCalls, tokens and connectorCalls into status.budget.used: keep
        // them, or every status write here would hand the agent a fresh budget.
        ...(effective ? { budget: { effective, used: { ...gatewayCounts(prev?.budget?.used), ...measured(prev?.budget?.used), ...plan.used } } } : {}),
        ...(terminal && !prev?.finishedAt ? { finishedAt: metaTime(now) } : {}),
      },
      beforeWrite: () => void (terminal && slots.release(objectKey(ex), ex.spec.profileRef.name)),
    });
  }
}

/** The figures measured before, kept while nothing new was measured (a reconcile before a container started). */
function measured(used: Record<string, unknown> | undefined): Partial<MeasuredUse> {
  const out: Partial<MeasuredUse> = {};
  for (const k of ['wallClockSeconds', 'cpuGpuComputeSeconds'] as const) if (typeof used?.[k] === 'number') out[k] = used[k] as number;
  return out;
}

const isRunning = (e: LocalAgentExecution): boolean => e.status?.phase === 'Running' || e.status?.phase === 'Retrying';

/** A deletion before the execution finished is its cancellation. */
async function auditCancel(deps: ReconcilerDeps, ex: LocalAgentExecution, message: string): Promise<void> {
  await deps.recorder.record(ex, { operationType: CANCEL, outcome: 'cancelled', reason: 'Deleted', message, warning: false, actor: ex.spec.authority.delegator, delegate: ex.spec.authority.delegate });
}
