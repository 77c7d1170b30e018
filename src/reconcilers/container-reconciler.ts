// ContainerExecutionRecord (agent_machine.container.run): admits the record (profile, authority,
// RBAC, budget, policy), then drives a real container — docker runtime (podman/dockerd) or a Pod
// — toward completion: created once (adopted after a restart), stopped at its deadline or
// compute budget or on cancel, its exit, OOM kill, log tail and CPU use recorded, then removed.
// Runtime events (die, start) enqueue the record, so completion is seen without polling.
import type { AgentMachineProfile, ContainerExecutionRecord, ContainerExecutionRecordStatus } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { nextOperation, type OperationEventType, type OperationState } from '../api/operation.ts';
import { Controller } from '../operator/controller.ts';
import { ensureFinalizer, hasFinalizer, isBeingDeleted, removeFinalizer } from '../operator/finalizers.ts';
import { objectKey } from '../operator/resource.ts';
import { metaTime } from '../operator/time.ts';
import { permissions } from '../governance/access-review.ts';
import { fitBudget, type FullBudget } from '../governance/budget.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { effectiveNetworkMode } from '../governance/profile-rules.ts';
import { containerRequests, type HostPathResolution } from '../governance/requests.ts';
import type { AuditOutcome } from '../governance/audit-log.ts';
import type { Decision } from '../governance/decision.ts';
import { RuntimeUnavailableError, type ContainerObservation, type ContainerRunSpec, type ContainerRuntime } from '../runtimes/container-runtime.ts';
import { ImageNotPresentError } from '../runtimes/container-runtime.ts';
import type { ReconcilerDeps } from './deps.ts';
import { admitContainer, decideRun, isTerminalContainerPhase, limitsFor, type AdmissionFacts, type ContainerPhase, type RunDecision } from './container-state.ts';
import { MissingSecretError, resolveEnv } from './container-env.ts';
import { redact } from '../diagnostics/redactor.ts';
import { profileFact } from './facts.ts';
import { BY_PROFILE, BY_UID, indexed } from './indexes.ts';
import { resolveWorkspace } from './workspace-path.ts';
import { boundedDecisions, budgetCondition, gateConditions, requeueAfter } from './core/status-parts.ts';
import { getCondition } from '../operator/conditions.ts';
import type { Tri } from './facts.ts';

const RUN = 'agent_machine.container.run';
const LOG_TAIL_READ_BYTES = 16 * 1024;
const LOG_TAIL_KEEP_CHARS = 4096;
// SIGTERM, then SIGKILL this much later: enough for an agent to flush, short enough that a
// cancel or deadline takes effect within seconds.
const STOP_GRACE_SECONDS = 3;

const PROJECTION: Record<ContainerPhase, { state: OperationState; event: OperationEventType; outcome: AuditOutcome }> = {
  Pending: { state: 'queued', event: 'progress', outcome: 'queued' },
  Creating: { state: 'running', event: 'progress', outcome: 'started' },
  Running: { state: 'running', event: 'start', outcome: 'started' },
  Succeeded: { state: 'completed', event: 'complete', outcome: 'completed' },
  Failed: { state: 'failed', event: 'failure', outcome: 'failed' },
  Cancelled: { state: 'cancelled', event: 'cancel', outcome: 'cancelled' },
  Denied: { state: 'failed', event: 'failure', outcome: 'denied' },
};

interface Gates {
  authorized: Tri;
  policyAllowed: Tri;
  budgetAvailable: Tri;
  runtimeReady: Tri;
  runtimeReason: string;
  runtimeMessage: string;
}

export function containerController(deps: ReconcilerDeps): Controller {
  const { containers, profiles } = deps.informers;
  const recordsUnder = indexed(containers, BY_PROFILE);
  const recordWithUid = indexed(containers, BY_UID);

  const controller = new Controller({
    kind: 'ContainerExecutionRecord',
    informer: containers,
    logger: deps.logger,
    metrics: deps.metrics,
    concurrency: 4,
    watches: [
      {
        informer: profiles,
        map: (p) => recordsUnder(p.metadata!.name!).filter((c) => !isTerminalContainerPhase(c.status?.phase)).map(objectKey),
      },
    ],
    reconcile: (key) => reconcileContainer(deps, key),
  });
  for (const runtime of Object.values(deps.runtimes)) {
    runtime.watch((uid) => {
      for (const record of recordWithUid(uid)) controller.queue.add(objectKey(record));
    });
  }
  return controller;
}

async function reconcileContainer(deps: ReconcilerDeps, key: string) {
  let record = deps.informers.containers.get(key);
  if (!record) return;
  const runtimeKind = record.spec.runtime ?? deps.defaultRuntime;
  const runtime = deps.runtimes[runtimeKind];
  const uid = record.metadata.uid!;
  if (isBeingDeleted(record)) {
    if (!hasFinalizer(record)) return;
    await runtime?.remove(uid);
    await removeFinalizer(deps.clients, RESOURCES.ContainerExecutionRecord, record);
    return;
  }
  if (!hasFinalizer(record)) {
    const r = await ensureFinalizer(deps.clients, RESOURCES.ContainerExecutionRecord, record);
    if (r.outcome === 'gone') return;
    record = r.object;
  }
  const prev = record.status;
  if (isTerminalContainerPhase(prev?.phase)) {
    // Finished: make sure nothing of it is left in the runtime (best effort, repeated on resync).
    await runtime?.remove(uid).catch(() => undefined);
    return;
  }
  const now = deps.clock();
  const profile = deps.informers.profiles.get(record.spec.profileRef.name);
  const gates: Gates = { authorized: 'Unknown', policyAllowed: 'Unknown', budgetAvailable: 'Unknown', runtimeReady: 'Unknown', runtimeReason: 'NotChecked', runtimeMessage: 'not checked yet' };
  const started = prev?.phase === 'Creating' || prev?.phase === 'Running';

  // Admission: once, before anything runs.
  let effective: FullBudget;
  let decisions: Decision[] = prev?.decisions ?? [];
  // The workspace's real host path, resolved for the policy and then mounted (workspace-path.ts).
  let workspace: HostPathResolution | undefined;
  if (!started) {
    const facts: AdmissionFacts = { profile: profileFact(profile, record.spec.profileRef.name) };
    let a = admitContainer(facts);
    if (a.need === 'authorization') {
      facts.authorization = await deps.authorizer.authorize({ authority: record.spec.authority, operationType: RUN, permissions: [permissions.useProfile(record.spec.profileRef.name)], now });
      a = admitContainer(facts);
    }
    if (a.need === 'budget') {
      facts.budget = fitBudget(record.spec.budget, profile!.spec.budgetCeilings as FullBudget);
      a = admitContainer(facts);
    }
    if (a.need === 'policy') {
      workspace = await resolveWorkspace(record.spec.container, runtimeKind);
      const results = containerRequests(record.spec.container, record.spec.tenant, workspace).map((req) => evaluatePolicy(profile, req));
      facts.policy = { allowed: results.every((r) => r.allowed), decisions: results.flatMap((r) => r.decisions) };
      a = admitContainer(facts);
    }
    if (a.need) throw new Error(`admission still needs ${a.need}`);
    if (!a.admitted && a.hold) {
      await writeStatus(deps, record, { phase: 'Pending', reason: a.reason, message: a.message, action: 'none' }, gates, a.decisions, {}, now);
      return requeueAfter(15_000);
    }
    if (!a.admitted) {
      return writeStatus(deps, record, { phase: 'Denied', reason: a.reason, message: a.message, action: 'none' }, { ...gates, authorized: a.authorized, policyAllowed: a.policyAllowed, budgetAvailable: a.budgetAvailable }, a.decisions, {}, now);
    }
    effective = a.effective;
    decisions = a.decisions;
    gates.authorized = gates.policyAllowed = gates.budgetAvailable = 'True';
  } else {
    if (!profile) {
      // Fail closed mid-run: without its profile nothing vouches for the container any more.
      await runtime?.stop(uid, STOP_GRACE_SECONDS).catch(() => undefined);
      return writeStatus(deps, record, { phase: 'Failed', reason: 'ProfileNotFound', message: `profile ${record.spec.profileRef.name} was deleted while the container ran: stopped`, action: 'none' }, gates, decisions, {}, now);
    }
    effective = fitBudget(record.spec.budget, profile.spec.budgetCeilings as FullBudget).effective;
    gates.authorized = gates.policyAllowed = gates.budgetAvailable = 'True';
  }

  if (!runtime) {
    gates.runtimeReady = 'False';
    gates.runtimeReason = 'RuntimeNotConfigured';
    gates.runtimeMessage = `runtime ${runtimeKind} is not configured in this controller`;
    await writeStatus(deps, record, { phase: 'Pending', reason: 'RuntimeNotConfigured', message: gates.runtimeMessage, action: 'none' }, gates, decisions, {}, now);
    return requeueAfter(30_000);
  }
  try {
    const version = await runtime.ping();
    deps.metrics.runtimeUp.set({ runtime: runtimeKind }, 1);
    gates.runtimeReady = 'True';
    gates.runtimeReason = 'RuntimeReady';
    gates.runtimeMessage = version;
    const observation = await runtime.inspect(uid);
    const cpuSeconds = observation ? await runtime.cpuSeconds(uid) : undefined;
    let d = decideRun({
      record,
      now,
      startedAt: prev?.startedAt ? new Date(prev.startedAt) : undefined,
      effective,
      observation,
      cpuSeconds,
      started,
      previousReason: getCondition(prev?.conditions, 'Ready')?.reason,
    });
    const extra: Partial<ContainerExecutionRecordStatus> = { runtime: runtimeKind, ...(cpuSeconds !== undefined ? { cpuGpuComputeSecondsUsed: Math.ceil(cpuSeconds) } : {}) };
    let obs = observation;
    if (d.action === 'create') {
      let spec: ContainerRunSpec;
      try {
        spec = await runSpecFor(deps, record, profile!, effective, workspace);
      } catch (err) {
        if (!(err instanceof MissingSecretError)) throw err;
        await writeStatus(deps, record, { phase: 'Pending', reason: 'SecretNotFound', message: err.message, action: 'none' }, gates, decisions, extra, now);
        return requeueAfter(10_000);
      }
      try {
        obs = await runtime.ensure(spec);
      } catch (err) {
        if (!(err instanceof ImageNotPresentError)) throw err;
        // Held, not failed: the image may be loaded into the engine later (nothing is pulled).
        await writeStatus(deps, record, { phase: 'Pending', reason: 'ImageNotPresent', message: err.message, action: 'none' }, gates, decisions, extra, now);
        return requeueAfter(30_000);
      }
      if (obs.state !== 'exited') {
        const runningNow: RunDecision = { phase: 'Running', reason: 'Running', message: 'the container is running', action: 'none', requeueAfterMs: 1_000 };
        return writeStatus(deps, record, runningNow, gates, decisions, { ...extra, ...observed(obs, now) }, now);
      }
      // Exited before ensure() returned (a quick agent): finish it like any exited container,
      // log tail included.
      d = decideRun({ record, now, effective, observation: obs, started: true });
    }
    if (d.action === 'stop') await runtime.stop(uid, STOP_GRACE_SECONDS);
    if (isTerminalContainerPhase(d.phase) && obs) {
      const { secretValues } = await resolveEnv(deps.clients, record.metadata.namespace!, record.spec.container).catch(() => ({ secretValues: [] as string[] }));
      // Secret values in any encoding, tokens, keys and prompt text out before it reaches
      // status; if the redactor cannot vouch for the tail, no tail is kept (fail closed).
      const redacted = redact(await runtime.logTail(uid, LOG_TAIL_READ_BYTES), { secretValues });
      const tail = redacted.ok ? redacted.text : '';
      extra.logTail = tail.length > LOG_TAIL_KEEP_CHARS ? tail.slice(tail.length - LOG_TAIL_KEEP_CHARS) : tail;
    }
    const result = await writeStatus(deps, record, d, gates, decisions, { ...extra, ...(obs ? observed(obs, now, prev?.startedAt) : {}) }, now);
    if (isTerminalContainerPhase(d.phase)) await runtime.remove(uid).catch(() => undefined);
    return result;
  } catch (err) {
    if (!(err instanceof RuntimeUnavailableError)) throw err;
    deps.metrics.runtimeUp.set({ runtime: runtimeKind }, 0);
    gates.runtimeReady = 'False';
    gates.runtimeReason = 'RuntimeUnavailable';
    gates.runtimeMessage = err.message;
    const phase: ContainerPhase = started ? (prev!.phase as ContainerPhase) : 'Pending';
    await writeStatus(deps, record, { phase, reason: 'RuntimeUnavailable', message: err.message, action: 'none' }, gates, decisions, {}, now);
    // Rethrown so the work queue backs off (capped) until the runtime answers again.
    throw err;
  }
}

function observed(obs: ContainerObservation, now: Date, previousStartedAt?: string): Partial<ContainerExecutionRecordStatus> {
  return {
    containerId: obs.id,
    ...(obs.imageDigest ? { imageDigest: obs.imageDigest } : {}),
    startedAt: previousStartedAt ?? (obs.startedAt ? metaTime(new Date(obs.startedAt)) : metaTime(now)),
    ...(obs.finishedAt ? { finishedAt: metaTime(new Date(obs.finishedAt)) } : {}),
    ...(obs.exitCode !== undefined ? { exitCode: obs.exitCode } : {}),
    ...(obs.state === 'exited' ? { oomKilled: obs.oomKilled === true } : {}),
  };
}

async function runSpecFor(deps: ReconcilerDeps, record: ContainerExecutionRecord, profile: AgentMachineProfile, effective: FullBudget, workspace: HostPathResolution | undefined): Promise<ContainerRunSpec> {
  const c = record.spec.container;
  const { env } = await resolveEnv(deps.clients, record.metadata.namespace!, c);
  const networkMode = effectiveNetworkMode(profile);
  // The execution's gateway token and URL (OPENAI_BASE_URL, OPENAI_API_KEY, ...); they win over the spec's env.
  if (deps.gatewayEnv) Object.assign(env, await deps.gatewayEnv.envFor(record, { networkMode, runtime: record.spec.runtime ?? deps.defaultRuntime }));
  return {
    recordUid: record.metadata.uid!,
    recordNamespace: record.metadata.namespace!,
    recordName: record.metadata.name!,
    image: c.image,
    ...(c.command ? { command: c.command } : {}),
    ...(c.args ? { args: c.args } : {}),
    env,
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    limits: limitsFor(record, effective),
    network: {
      mode: networkMode,
      ...(profile.spec.network?.proxy ? { proxy: profile.spec.network.proxy } : {}),
      ...(profile.spec.network?.egressAllowlist ? { egressAllowlist: profile.spec.network.egressAllowlist } : {}),
    },
    // The path the policy checked after resolving symlinks, not the link: a link swapped since
    // cannot redirect the mount.
    ...(c.workspace
      ? { workspace: { hostPath: workspace && 'resolvedHostPath' in workspace ? workspace.resolvedHostPath : c.workspace.hostPath, mountPath: c.workspace.mountPath ?? '/workspace' } }
      : {}),
    outputs: (c.outputs ?? []).map((o) => ({ name: o.name, path: o.path })),
    deadlineSeconds: effective.wallClockSeconds,
  };
}

async function writeStatus(
  deps: ReconcilerDeps,
  record: ContainerExecutionRecord,
  d: RunDecision,
  gates: Gates,
  decisions: Decision[],
  extra: Partial<ContainerExecutionRecordStatus>,
  now: Date,
) {
  const prev = record.status;
  const p = PROJECTION[d.phase];
  if (prev?.phase !== d.phase) {
    await deps.recorder.record(record, {
      operationType: RUN,
      outcome: p.outcome,
      reason: d.phase === 'Running' ? 'Started' : d.reason,
      message: d.message,
      warning: d.phase === 'Failed' || d.phase === 'Denied',
      actor: record.spec.authority.delegator,
      delegate: record.spec.authority.delegate,
      decisions,
    });
    if (d.phase === 'Denied') {
      const denied = decisions.find((x) => !x.allowed);
      if (denied) deps.metrics.policyDenials.inc({ gate: denied.gate });
    }
  }
  const status: ContainerExecutionRecordStatus = {
    ...stripUndefined(prev ?? {}),
    ...extra,
    phase: d.phase,
    conditions: gateConditions(
      prev?.conditions,
      record.metadata.generation,
      now,
      { authorized: gates.authorized, authorizedReason: d.reason, policyAllowed: gates.policyAllowed, ready: d.phase === 'Succeeded', reason: d.reason, message: d.message, phase: d.phase },
      [
        budgetCondition(gates.budgetAvailable, d.message),
        { type: 'RuntimeReady', status: gates.runtimeReady, reason: gates.runtimeReason, message: gates.runtimeMessage },
      ],
    ),
    decisions: boundedDecisions(decisions),
    operation: nextOperation(prev?.operation, record.metadata.uid!, { operationType: RUN, state: p.state, event: { eventType: p.event, details: d.message } }, now),
  };
  await deps.status.write(RESOURCES.ContainerExecutionRecord, record, status as Record<string, unknown>);
  return requeueAfter(d.requeueAfterMs);
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
