// LocalAgentExecution (agent_machine.execution.start / .cancel): admits the run (profile,
// authority and RBAC, budget, every container's policy, an Active grant for every tool), waits
// in creation order for one of the profile's agentConcurrency slots, then owns one
// ContainerExecutionRecord per container per attempt and adds their outcomes up: retries within
// retryPolicy, cancels at the wall-clock deadline (DeadlineExceeded) or on spec.cancel.
import type { ContainerExecutionRecord, LocalAgentExecution, LocalAgentExecutionStatus } from '../api/types.generated.ts';
import { API_VERSION } from '../api/group.ts';
import { RESOURCES } from '../api/resources.ts';
import { nextOperation, type OperationEventType, type OperationState } from '../api/operation.ts';
import { Controller, ownerKeys } from '../operator/controller.ts';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../operator/finalizers.ts';
import { isConflict, isNotFound, MERGE_PATCH } from '../operator/kube-clients.ts';
import { objectKey } from '../operator/resource.ts';
import { metaTime } from '../operator/time.ts';
import { permissions } from '../governance/access-review.ts';
import { checkAuthority } from '../governance/authority.ts';
import { fitBudget, type FullBudget } from '../governance/budget.ts';
import { allow, deny, firstDenial, type Decision } from '../governance/decision.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { containerRequests, modelProviderUseRequest } from '../governance/requests.ts';
import type { AuditOutcome } from '../governance/audit-log.ts';
import { gatewayCounts } from '../gateway/ledger.ts';
import type { ReconcilerDeps } from './deps.ts';
import { admitContainer, type Admission, type AdmissionFacts } from './container-state.ts';
import { admitModelProvider, attemptOutcome, firstInLine, holdsSlot, isTerminalExecutionPhase, mayTakeSlot, recordNameFor, type ExecutionPhase } from './execution-state.ts';
import { profileFact } from './facts.ts';
import { BY_MODEL_PROVIDER, BY_OWNER_UID, BY_PROFILE, BY_TOOL, indexed } from './indexes.ts';
import { resolveWorkspace } from './workspace-path.ts';
import { SlotLine } from './slot-line.ts';
import { RecentMap } from '../operator/recent-map.ts';
import { boundedDecisions, budgetCondition, gateConditions, requeueAfter } from './core/status-parts.ts';
import { getCondition } from '../operator/conditions.ts';
import type { Tri } from './facts.ts';

const START = 'agent_machine.execution.start';
const CANCEL = 'agent_machine.execution.cancel';
const EXECUTION_UID_LABEL = 'agentmachine.sourceos.dev/execution-uid';

const PROJECTION: Record<ExecutionPhase, { state: OperationState; event: OperationEventType; outcome: AuditOutcome }> = {
  Pending: { state: 'queued', event: 'progress', outcome: 'queued' },
  Queued: { state: 'queued', event: 'progress', outcome: 'queued' },
  Running: { state: 'running', event: 'start', outcome: 'started' },
  Retrying: { state: 'retrying', event: 'retry', outcome: 'started' },
  Succeeded: { state: 'completed', event: 'complete', outcome: 'completed' },
  Failed: { state: 'failed', event: 'failure', outcome: 'failed' },
  Cancelled: { state: 'cancelled', event: 'cancel', outcome: 'cancelled' },
  Denied: { state: 'failed', event: 'failure', outcome: 'denied' },
};

interface Outcome {
  phase: ExecutionPhase;
  reason: string;
  message: string;
  requeueAfterMs?: number;
}

export function executionController(deps: ReconcilerDeps): Controller {
  const { executions, containers, profiles } = deps.informers;
  // Slots taken in this process whose Running status has not come back through the cache yet:
  // decided and reserved synchronously, so two reconciles can never both take the last slot.
  const reserved = new Map<string, Set<string>>();
  // The finalizer is added when an execution takes a slot: before that it owns nothing to clean
  // up, and a burst of 1,000 admissions should not cost 1,000 more writes. Deleting one that
  // was admitted (or held) but never started is still audited, from its last copy seen here.
  const deletedWhileWaiting = new LastSeen();

  // A deleted execution's reservation goes with it, before the watch below wakes the next in
  // line (handlers run in the order registered): waiting for its own reconcile to drop it
  // would leave that one counting a slot that is free.
  executions.on({
    delete: (e) => {
      reserved.forEach((slots) => slots.delete(objectKey(e)));
      if (!hasFinalizer(e) && isDecidedAndWaiting(e)) deletedWhileWaiting.remember(e);
    },
  });

  // Looked up by index: scanning every record (or execution) per reconcile is quadratic at
  // 1,000 executions.
  const recordsOwnedBy = indexed(containers, BY_OWNER_UID);
  const ownedBy = (uid: string | undefined): ContainerExecutionRecord[] => (uid ? recordsOwnedBy(uid) : []);
  const executionsUnder = indexed(executions, BY_PROFILE);
  const executionsUsing = indexed(executions, BY_MODEL_PROVIDER);

  const line = new SlotLine(executions);
  // Stable while it waits: a message counting the taken slots would be a status write (and a
  // watch event for every client) each time the line moves.
  const queued = (limit: number, profileName: string) => ({ phase: 'Queued' as const, reason: 'WaitingForSlot', message: `all ${limit} agentConcurrency slots of profile ${profileName} are taken; queued in creation order` });
  /** Slots of a profile taken (cache and this process's reservations) and the line waiting for one. */
  const slotsOf = (profileName: string, key: string) => {
    const slots = reserved.get(profileName) ?? new Set<string>();
    reserved.set(profileName, slots);
    const holders = new Set([...line.holders(profileName), ...slots]);
    holders.delete(key);
    return { slots, held: holders.size, waiting: line.waiting(profileName) };
  };

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
      // A binding appearing (or changing) decides the executions held for it.
      { informer: deps.informers.bindings, map: (b) => executionsUsing(objectKey(b)).filter((e) => (e.status?.phase ?? 'Pending') === 'Pending').map(objectKey) },
      { informer: profiles, map: (p) => executionsUnder(p.metadata!.name!).filter((e) => !isTerminalExecutionPhase(e.status?.phase)).map(objectKey) },
      // A finished or deleted execution frees a slot (or a denied one its place in line): wake the
      // first ones in line under its profile, as many as it has slots (only they can take one).
      // Only then, and only those: a waiting one's own status writes change nothing for the
      // others, and waking every waiting one on each completion is quadratic (1,000 queued
      // executions: ~500,000 reconciles).
      {
        informer: executions,
        map: (e) => {
          if (!freesSlot(e as LocalAgentExecution)) return [];
          const profile = (e as LocalAgentExecution).spec.profileRef.name;
          const { held, waiting } = slotsOf(profile, objectKey(e));
          const free = (profiles.get(profile)?.spec.budgetCeilings.agentConcurrency ?? 1) - held;
          return firstInLine(waiting, Math.max(1, free)).map((c) => c.key);
        },
      },
    ],
    reconcile: async (key) => {
      let ex = executions.get(key);
      if (!ex) {
        for (const set of reserved.values()) set.delete(key);
        const gone = deletedWhileWaiting.take(key);
        if (gone) await recordCommand(deps, gone, CANCEL, 'cancelled', 'Deleted', 'execution deleted before it started: nothing ran', false);
        return;
      }
      const owned = ownedBy(ex.metadata.uid);
      if (isBeingDeleted(ex)) {
        if (!hasFinalizer(ex)) return;
        if (!isTerminalExecutionPhase(ex.status?.phase)) await recordCommand(deps, ex, CANCEL, 'cancelled', 'Deleted', 'execution deleted while it was not finished: its containers are removed', false);
        // No garbage collector can be assumed (a bare control plane has none): delete what we own.
        await Promise.all(owned.map((c) => deleteRecord(deps, c)));
        await removeFinalizer(deps.clients, RESOURCES.LocalAgentExecution, ex);
        for (const set of reserved.values()) set.delete(key);
        return;
      }
      const prev = ex.status;
      const profileName = ex.spec.profileRef.name;
      if (isTerminalExecutionPhase(prev?.phase)) {
        reserved.get(profileName)?.delete(key);
        return;
      }
      const now = deps.clock();
      const profile = profiles.get(profileName);
      const tri = { authorized: 'True' as Tri, policyAllowed: 'True' as Tri, budgetAvailable: 'True' as Tri };
      let decisions: Decision[] = prev?.decisions ?? [];
      let effective: FullBudget | undefined = prev?.budget?.effective as FullBudget | undefined;

      if (!holdsSlot(prev?.phase)) {
        if (ex.spec.cancel) return finish(deps, ex, { phase: 'Cancelled', reason: 'Cancelled', message: 'cancelled before it started' }, tri, decisions, undefined, now, CANCEL);
        if (prev?.phase === 'Queued' && profile) {
          // Admitted before and not its turn yet: nothing to ask the API server. Admission runs
          // again, fresh, when a slot can be its.
          const limit = profile.spec.budgetCeilings.agentConcurrency;
          const { held, waiting } = slotsOf(profileName, key);
          if (!mayTakeSlot(key, limit, held, waiting)) return finish(deps, ex, queued(limit, profileName), tri, decisions, effective, now);
        }
        const a = await admit(deps, ex, now);
        if (!a.admitted && a.hold) return finish(deps, ex, { phase: 'Pending', reason: a.reason, message: a.message, requeueAfterMs: 10_000 }, tri, a.decisions, undefined, now);
        if (!a.admitted) {
          return finish(deps, ex, { phase: 'Denied', reason: a.reason, message: a.message }, { authorized: a.authorized, policyAllowed: a.policyAllowed, budgetAvailable: a.budgetAvailable }, a.decisions, undefined, now);
        }
        decisions = a.decisions;
        effective = a.effective;
        const limit = profile!.spec.budgetCeilings.agentConcurrency;
        const { slots, held, waiting } = slotsOf(profileName, key);
        if (!mayTakeSlot(key, limit, held, waiting)) return finish(deps, ex, queued(limit, profileName), tri, decisions, effective, now);
        slots.add(key);
        if (!hasFinalizer(ex)) {
          const r = await ensureFinalizer(deps.clients, RESOURCES.LocalAgentExecution, ex);
          if (r.outcome === 'gone') {
            slots.delete(key);
            return;
          }
          ex = r.object;
        }
        await createAttempt(deps, ex, 0, owned);
        return finish(deps, ex, { phase: 'Running', reason: 'Running', message: `started ${ex.spec.containers.length} container(s)`, requeueAfterMs: effective.wallClockSeconds * 1000 }, tri, decisions, effective, now, START, { startedAt: metaTime(now), deadline: metaTime(new Date(now.getTime() + effective.wallClockSeconds * 1000)), attempts: 0 });
      }

      // Started: drive and add up the current attempt.
      effective ??= profile ? fitBudget(ex.spec.budget, profile.spec.budgetCeilings as FullBudget).effective : undefined;
      const attempt = prev?.attempts ?? 0;
      const names = new Set(ex.spec.containers.map((c) => recordNameFor(ex!.metadata.name!, c.name!, attempt)));
      const current = owned.filter((c) => names.has(c.metadata.name!));
      const deadline = prev?.deadline ? new Date(prev.deadline) : undefined;
      const pastDeadline = deadline !== undefined && now.getTime() >= deadline.getTime();
      const stopping = ex.spec.cancel || pastDeadline || !profile;
      if (stopping) {
        const reason = ex.spec.cancel ? 'Cancelled' : pastDeadline ? 'DeadlineExceeded' : 'ProfileNotFound';
        await Promise.all(current.filter((c) => !c.spec.cancel).map((c) => cancelRecord(deps, c)));
        const outcome = attemptOutcome(names.size, current);
        if (outcome === 'running') {
          return finish(deps, ex, { phase: prev!.phase!, reason: 'Cancelling', message: `${reason}: stopping the containers`, requeueAfterMs: 1_000 }, tri, decisions, effective, now, undefined, containersStatus(ex, current, attempt));
        }
        const message = reason === 'DeadlineExceeded' ? `ran past its wallClockSeconds budget of ${effective?.wallClockSeconds} s` : reason === 'Cancelled' ? 'cancelled; every container stopped' : `profile ${profileName} was deleted`;
        return finish(deps, ex, { phase: 'Cancelled', reason, message }, tri, decisions, effective, now, CANCEL, containersStatus(ex, current, attempt));
      }
      if (prev?.phase === 'Retrying' && current.length === 0) {
        await createAttempt(deps, ex, attempt, owned);
        return finish(deps, ex, { phase: 'Running', reason: 'Running', message: `attempt ${attempt + 1} started`, requeueAfterMs: untilDeadline(deadline, now) }, tri, decisions, effective, now);
      }
      const outcome = attemptOutcome(names.size, current);
      const status = containersStatus(ex, current, attempt);
      if (outcome === 'succeeded') return finish(deps, ex, { phase: 'Succeeded', reason: 'Succeeded', message: 'every container exited 0' }, tri, decisions, effective, now, START, status);
      if (outcome === 'cancelled') return finish(deps, ex, { phase: 'Cancelled', reason: 'ContainerCancelled', message: 'a container was cancelled' }, tri, decisions, effective, now, CANCEL, status);
      if (outcome === 'failed') {
        const failed = current.find((c) => c.status?.phase === 'Failed' || c.status?.phase === 'Denied');
        const failedReady = getCondition(failed?.status?.conditions, 'Ready');
        const why = `container record ${failed?.metadata.name} ${failed?.status?.phase}: ${failedReady?.message ?? ''}`;
        const maxRetries = ex.spec.retryPolicy?.maxRetries ?? 0;
        if (attempt < maxRetries) {
          const backoff = (ex.spec.retryPolicy?.backoffSeconds ?? 10) * 1000;
          return finish(deps, ex, { phase: 'Retrying', reason: 'Retrying', message: `${why}; retry ${attempt + 1} of ${maxRetries} in ${backoff / 1000} s`, requeueAfterMs: backoff }, tri, decisions, effective, now, undefined, { ...status, attempts: attempt + 1 });
        }
        return finish(deps, ex, { phase: 'Failed', reason: failedReady?.reason ?? 'Failed', message: why }, tri, decisions, effective, now, START, status);
      }
      return finish(deps, ex, { phase: 'Running', reason: 'Running', message: 'containers running', requeueAfterMs: untilDeadline(deadline, now) }, tri, decisions, effective, now, undefined, status);
    },
  });

  async function finish(
    deps: ReconcilerDeps,
    ex: LocalAgentExecution,
    o: Outcome,
    gates: { authorized: Tri; policyAllowed: Tri; budgetAvailable: Tri },
    decisions: Decision[],
    effective: FullBudget | undefined,
    now: Date,
    operationType: typeof START | typeof CANCEL = START,
    extra: Partial<LocalAgentExecutionStatus> = {},
  ) {
    const prev = ex.status;
    const p = PROJECTION[o.phase];
    if (prev?.phase !== o.phase) {
      await recordCommand(deps, ex, operationType, p.outcome, o.phase === 'Running' ? 'Started' : o.reason, o.message, o.phase === 'Failed' || o.phase === 'Denied', decisions);
      if (o.phase === 'Denied') {
        const denied = firstDenial(decisions);
        if (denied) deps.metrics.policyDenials.inc({ gate: denied.gate });
      }
    }
    if (isTerminalExecutionPhase(o.phase)) reserved.get(ex.spec.profileRef.name)?.delete(objectKey(ex));
    const used = (extra.containers ?? prev?.containers) ? sumCpu(ex) : undefined;
    const startedAt = extra.startedAt ?? prev?.startedAt;
    const status: LocalAgentExecutionStatus = {
      ...prev,
      ...extra,
      phase: o.phase,
      // The gateway counts modelCalls, tokens and connectorCalls into status.budget.used: keep
      // them, or every status write here would hand the agent a fresh budget.
      ...(effective ? { budget: { effective, used: { ...gatewayCounts(prev?.budget?.used), ...(used !== undefined ? { cpuGpuComputeSeconds: used } : {}), ...(startedAt ? { wallClockSeconds: Math.max(0, Math.round((now.getTime() - new Date(startedAt).getTime()) / 1000)) } : {}) } } } : {}),
      ...(isTerminalExecutionPhase(o.phase) && !prev?.finishedAt ? { finishedAt: metaTime(now) } : {}),
      conditions: gateConditions(prev?.conditions, ex.metadata.generation, now, {
        authorized: gates.authorized,
        authorizedReason: o.reason,
        policyAllowed: gates.policyAllowed,
        ready: o.phase === 'Succeeded',
        reason: o.reason,
        message: o.message,
        phase: o.phase,
      }, [budgetCondition(gates.budgetAvailable, o.message)]),
      decisions: boundedDecisions(decisions),
      operation: nextOperation(prev?.operation, ex.metadata.uid!, { operationType: o.phase === 'Cancelled' ? CANCEL : START, state: p.state, event: { eventType: p.event, details: o.message } }, now),
    };
    await deps.status.write(RESOURCES.LocalAgentExecution, ex, status as Record<string, unknown>);
    return requeueAfter(o.requeueAfterMs);
  }

  function sumCpu(ex: LocalAgentExecution): number {
    return ownedBy(ex.metadata.uid).reduce((sum, c) => sum + (c.status?.cpuGpuComputeSecondsUsed ?? 0), 0);
  }
}

/** Admitted or held (an audit line says so), not started, not finished. */
function isDecidedAndWaiting(e: LocalAgentExecution): boolean {
  return e.status?.phase === 'Queued' || e.status?.phase === 'Pending';
}

/**
 * The last copies of executions deleted while waiting, until their reconcile audits the
 * deletion: only what that needs (a standby keeps them too, and never takes them). Bounded:
 * the oldest are forgotten first.
 */
class LastSeen {
  readonly #byKey = new RecentMap<string, LocalAgentExecution>(10_000);

  remember(e: LocalAgentExecution): void {
    const { apiVersion, kind, metadata, spec } = e;
    const slim = { apiVersion, kind, metadata: { name: metadata.name, namespace: metadata.namespace, uid: metadata.uid, resourceVersion: metadata.resourceVersion }, spec: { authority: spec.authority } };
    this.#byKey.remember(objectKey(e), slim as LocalAgentExecution);
  }

  take(key: string): LocalAgentExecution | undefined {
    const e = this.#byKey.get(key);
    this.#byKey.delete(key);
    return e;
  }
}

/** Deleted executions still carry their last phase (often Running): deletion itself frees the slot. */
function freesSlot(e: LocalAgentExecution): boolean {
  return isTerminalExecutionPhase(e.status?.phase) || e.metadata.deletionTimestamp !== undefined;
}

/** The container admission's outcome, decided (no fact left to fetch). */
type ExecutionAdmission = Exclude<Admission, { need: string }>;

/** The container admission for each container, plus what only an execution has: its tools. */
async function admit(deps: ReconcilerDeps, ex: LocalAgentExecution, now: Date): Promise<ExecutionAdmission> {
  const grantsOf = indexed(deps.informers.grants, BY_TOOL);
  const profile = deps.informers.profiles.get(ex.spec.profileRef.name);
  const tools = ex.spec.tools ?? [];
  const facts: AdmissionFacts = { profile: profileFact(profile, ex.spec.profileRef.name) };
  let a = admitContainer(facts);
  if (a.need === 'authorization') {
    const auth = await deps.authorizer.authorize({ authority: ex.spec.authority, operationType: START, toolRefs: tools, permissions: [permissions.useProfile(ex.spec.profileRef.name)], now });
    // The execution's containers run under the same delegation: it must cover container.run too.
    const runScope = auth.allowed ? checkAuthority(ex.spec.authority, { operationType: 'agent_machine.container.run', now }) : [];
    const scopeDenied = firstDenial(runScope);
    facts.authorization = scopeDenied ? { allowed: false, reason: 'ScopeNotCovered', message: scopeDenied.message, decisions: [...auth.decisions, ...runScope] } : auth;
    a = admitContainer(facts);
  }
  if (a.need === 'budget') {
    facts.budget = fitBudget(ex.spec.budget, profile!.spec.budgetCeilings as FullBudget);
    a = admitContainer(facts);
  }
  if (a.need === 'policy') {
    const runtime = ex.spec.runtime ?? deps.defaultRuntime;
    const workspaces = await Promise.all(ex.spec.containers.map((c) => resolveWorkspace(c, runtime)));
    const results = ex.spec.containers.flatMap((c, i) => containerRequests(c, ex.spec.tenant, workspaces[i])).map((req) => evaluatePolicy(profile, req));
    const toolDecisions = tools.flatMap((tool) => {
      const grant = grantsOf(`${ex.metadata.namespace}/${tool}`).find((g) => g.status?.state === 'Active' && g.spec.authority.delegate === ex.spec.authority.delegate);
      const granted = grant
        ? allow('toolGrant', 'grant.active', `tool ${tool} granted to ${ex.spec.authority.delegate} by ${grant.metadata.name}`)
        : deny('toolGrant', 'grant.active', `no Active ToolGrantRecord in ${ex.metadata.namespace} grants tool ${tool} to ${ex.spec.authority.delegate}`);
      return [granted, ...evaluatePolicy(profile, { gate: 'toolGrant', tool, ...(ex.spec.tenant ? { tenant: ex.spec.tenant } : {}) }).decisions];
    });
    const ref = ex.spec.modelProviderRef;
    const model = admitModelProvider(ex, ref ? deps.informers.bindings.get(`${ex.metadata.namespace}/${ref.name}`) : undefined, (b) => evaluatePolicy(profile, modelProviderUseRequest(b.spec, ex.spec.tenant)));
    if (model.hold) return { admitted: false, hold: true, reason: model.reason, message: model.message, authorized: 'True', policyAllowed: 'Unknown', budgetAvailable: 'True', decisions: [] };
    const all = [...results.flatMap((r) => r.decisions), ...toolDecisions, ...model.decisions];
    facts.policy = { allowed: all.every((d) => d.allowed), decisions: all };
    a = admitContainer(facts);
  }
  if (a.need) throw new Error(`admission still needs ${a.need}`);
  return a;
}

/** One record per container, owned by the execution; an existing one (restart) is kept. */
async function createAttempt(deps: ReconcilerDeps, ex: LocalAgentExecution, attempt: number, owned: ContainerExecutionRecord[]): Promise<void> {
  const ownedNames = new Set(owned.map((c) => c.metadata.name));
  for (const container of ex.spec.containers) {
    const name = recordNameFor(ex.metadata.name!, container.name!, attempt);
    if (ownedNames.has(name)) continue;
    const record: ContainerExecutionRecord = {
      apiVersion: API_VERSION,
      kind: 'ContainerExecutionRecord',
      metadata: {
        name,
        namespace: ex.metadata.namespace,
        labels: { [EXECUTION_UID_LABEL]: ex.metadata.uid!, 'agentmachine.sourceos.dev/execution': ex.metadata.name! },
        ownerReferences: [{ apiVersion: API_VERSION, kind: 'LocalAgentExecution', name: ex.metadata.name!, uid: ex.metadata.uid!, controller: true, blockOwnerDeletion: true }],
      },
      spec: {
        profileRef: ex.spec.profileRef,
        authority: ex.spec.authority,
        executionRef: { name: ex.metadata.name! },
        ...(ex.spec.tenant ? { tenant: ex.spec.tenant } : {}),
        ...(ex.spec.runtime ? { runtime: ex.spec.runtime } : {}),
        container,
        ...(ex.spec.budget ? { budget: ex.spec.budget } : {}),
      },
    };
    try {
      await deps.clients.request({ method: 'POST', path: RESOURCES.ContainerExecutionRecord.apiPath(ex.metadata.namespace), body: record });
    } catch (err) {
      if (!isConflict(err)) throw err; // 409 AlreadyExists: created by an earlier reconcile
    }
  }
}

async function cancelRecord(deps: ReconcilerDeps, c: ContainerExecutionRecord): Promise<void> {
  try {
    await deps.clients.customObjects.patchNamespacedCustomObject(
      { group: RESOURCES.ContainerExecutionRecord.group, version: RESOURCES.ContainerExecutionRecord.version, namespace: c.metadata.namespace!, plural: RESOURCES.ContainerExecutionRecord.plural, name: c.metadata.name!, body: { spec: { cancel: true } } },
      MERGE_PATCH,
    );
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

async function deleteRecord(deps: ReconcilerDeps, c: ContainerExecutionRecord): Promise<void> {
  try {
    await deps.clients.request({ method: 'DELETE', path: RESOURCES.ContainerExecutionRecord.apiPath(c.metadata.namespace, c.metadata.name) });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

function containersStatus(ex: LocalAgentExecution, current: ContainerExecutionRecord[], attempt: number): Partial<LocalAgentExecutionStatus> {
  return {
    containers: ex.spec.containers.map((c) => {
      const recordName = recordNameFor(ex.metadata.name!, c.name!, attempt);
      const rec = current.find((r) => r.metadata.name === recordName);
      return {
        name: c.name!,
        recordName,
        ...(rec?.status?.phase ? { phase: rec.status.phase } : {}),
        ...(rec?.status?.exitCode !== undefined ? { exitCode: rec.status.exitCode } : {}),
      };
    }),
  };
}

function untilDeadline(deadline: Date | undefined, now: Date): number | undefined {
  return deadline ? Math.max(50, deadline.getTime() - now.getTime()) : undefined;
}

async function recordCommand(deps: ReconcilerDeps, ex: LocalAgentExecution, operationType: typeof START | typeof CANCEL, outcome: AuditOutcome, reason: string, message: string, warning: boolean, decisions?: Decision[]) {
  await deps.recorder.record(ex, { operationType, outcome, reason, message, warning, actor: ex.spec.authority.delegator, delegate: ex.spec.authority.delegate, ...(decisions ? { decisions } : {}) });
}

