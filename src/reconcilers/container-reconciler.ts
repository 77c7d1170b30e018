// ContainerExecutionRecord (agent_machine.container.run): admits the record (profile, authority,
// RBAC, budget, policy), then drives a real container — docker runtime (podman/dockerd) or a Pod
// — toward completion: created once (adopted after a restart), stopped at its deadline or
// compute budget or on cancel, its exit, OOM kill, log tail and CPU use recorded, then removed.
// Runtime events (die, start) enqueue the record, so completion is seen without polling.
// Each pass observes the runtime once (ping, inspect, CPU), decides (decideContainer), acts,
// and settles the status once.
import type { AgentMachineProfile, ContainerExecutionRecord } from '../api/types.generated.ts';
import { RESOURCES } from '../api/resources.ts';
import { Controller } from '../operator/controller.ts';
import { objectKey } from '../operator/resource.ts';
import { fitBudget, type FullBudget } from '../governance/budget.ts';
import type { HostPathResolution } from '../governance/requests.ts';
import type { Decision } from '../governance/decision.ts';
import { ImageNotPresentError, RuntimeUnavailableError, type ContainerRunSpec, type ContainerRuntime } from '../runtimes/container-runtime.ts';
import { runSpecFor } from './container-run-spec.ts';
import type { ReconcilerDeps } from './deps.ts';
import { isTerminalContainerPhase, type ContainerPhase } from './container-state.ts';
import { collectOutputs } from './container-outputs.ts';
import { applyOutputReview, reviewPending } from './output-review.ts';
import { RegistryError } from '../outputs/oci-registry.ts';
import { admitContainerRecord } from './container-admission.ts';
import { decideContainer, type ContainerObserved, type ContainerPlan } from './container-decision.ts';
import { MissingSecretError, resolveEnv } from './container-env.ts';
import { redact } from '../redaction/redactor.ts';
import { executionUidOf } from './prompt-lifetime.ts';
import type { Tri } from './facts.ts';
import { BY_PROFILE, BY_UID, indexed } from './indexes.ts';
import type { GovernedKind } from './core/governed-kind.ts';
import { RUN_PROJECTION, runWarns } from './core/run-projection.ts';
import { finalizeIfDeleted, withFinalizer } from './core/finalizer.ts';
import { settle } from './core/settle.ts';
import { budgetCondition } from './core/status-parts.ts';

const RUN = 'agent_machine.container.run';
const LOG_TAIL_READ_BYTES = 16 * 1024;
const LOG_TAIL_KEEP_CHARS = 4096;
// SIGTERM, then SIGKILL this much later: enough for an agent to flush, short enough that a
// cancel or deadline takes effect within seconds.
const STOP_GRACE_SECONDS = 3;

const KIND: GovernedKind<ContainerExecutionRecord, ContainerPhase> = {
  resource: RESOURCES.ContainerExecutionRecord,
  phaseOf: (r) => r.status?.phase,
  projection: {
    ...RUN_PROJECTION,
    Creating: { state: 'running', event: 'progress', outcome: 'started', warning: false },
  },
  readyPhase: 'Succeeded',
  eventReason: { Running: 'Started' },
  auditOn: 'phase',
  countsDenial: (phase) => phase === 'Denied',
  warns: runWarns,
};

interface Gates {
  authorized: Tri;
  policyAllowed: Tri;
  budgetAvailable: Tri;
  runtimeReady: Tri;
  runtimeReason: string;
  runtimeMessage: string;
}

type Outcome = Pick<ContainerPlan, 'phase' | 'reason' | 'message' | 'requeueAfterMs'> & { status?: ContainerPlan['status'] };

export function containerController(deps: ReconcilerDeps): Controller {
  const { containers, profiles } = deps.informers;
  const recordsUnder = indexed(containers, BY_PROFILE);
  const recordWithUid = indexed(containers, BY_UID);

  const controller = new ContainerController(deps, {
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
  controller.onRuntimeChange = (uid) => {
    for (const record of recordWithUid(uid)) controller.queue.add(objectKey(record));
  };
  return controller;
}

/**
 * The runtimes' watches (a Pod informer, the engine's event stream) live as long as the
 * controller runs: started with it, stopped when it shuts down. Left running, they retried
 * against an API server or engine already gone (connection refused after "shutdown complete").
 */
class ContainerController extends Controller {
  readonly #runtimes: ContainerRuntime[];
  #unwatch: Array<() => void> = [];
  onRuntimeChange: (recordUid: string) => void = () => {};

  constructor(deps: ReconcilerDeps, opts: ConstructorParameters<typeof Controller>[0]) {
    super(opts);
    this.#runtimes = Object.values(deps.runtimes);
  }

  override start(): void {
    super.start();
    if (this.#unwatch.length === 0) this.#unwatch = this.#runtimes.map((r) => r.watch((uid) => this.onRuntimeChange(uid)));
  }

  override async shutdown(timeoutMs?: number): Promise<boolean> {
    for (const stop of this.#unwatch.splice(0)) stop();
    return super.shutdown(timeoutMs);
  }
}

async function reconcileContainer(deps: ReconcilerDeps, key: string) {
  const found = deps.informers.containers.get(key);
  if (!found) return;
  const runtimeKind = found.spec.runtime ?? deps.defaultRuntime;
  const runtime = deps.runtimes[runtimeKind];
  const uid = found.metadata.uid!;
  if (await finalizeIfDeleted(deps, KIND.resource, found, async () => void (await runtime?.remove(uid)))) return;
  const record = await withFinalizer(deps, KIND.resource, found);
  if (!record) return;
  const prev = record.status;
  if (isTerminalContainerPhase(prev?.phase)) {
    // Finished: make sure nothing of it is left in the runtime (best effort, repeated on resync).
    await runtime?.remove(uid).catch(() => undefined);
    // What it left may still be reviewed (outputs a profile holds for review).
    if (reviewPending(record)) await applyOutputReview(deps, record, deps.informers.profiles.get(record.spec.profileRef.name), deps.clock());
    return;
  }
  const now = deps.clock();
  const profile = deps.informers.profiles.get(record.spec.profileRef.name);
  const gates: Gates = { authorized: 'Unknown', policyAllowed: 'Unknown', budgetAvailable: 'Unknown', runtimeReady: 'Unknown', runtimeReason: 'NotChecked', runtimeMessage: 'not checked yet' };
  const write = (o: Outcome, decisions: Decision[]) => writeStatus(deps, record, o, gates, decisions, now);
  // Pending with a container id: its container (a Pod) exists and waits to run; admitted.
  const started = prev?.phase === 'Creating' || prev?.phase === 'Running' || (prev?.phase === 'Pending' && prev.containerId !== undefined);

  // Admission: once, before anything runs.
  let effective: FullBudget;
  let decisions: Decision[] = prev?.decisions ?? [];
  // The workspace's real host path, resolved for the policy and then mounted (workspace-path.ts).
  let workspace: HostPathResolution | undefined;
  if (!started) {
    const a = await admitContainerRecord(deps, record, profile, now, (resolved) => (workspace = resolved));
    if (!a.admitted && a.hold) return write({ phase: 'Pending', reason: a.reason, message: a.message, requeueAfterMs: 15_000 }, a.decisions);
    if (!a.admitted) {
      Object.assign(gates, { authorized: a.authorized, policyAllowed: a.policyAllowed, budgetAvailable: a.budgetAvailable });
      return write({ phase: 'Denied', reason: a.reason, message: a.message }, a.decisions);
    }
    effective = a.effective;
    decisions = a.decisions;
  } else {
    if (!profile) {
      // Fail closed mid-run: without its profile nothing vouches for the container any more.
      await runtime?.stop(uid, STOP_GRACE_SECONDS).catch(() => undefined);
      return write({ phase: 'Failed', reason: 'ProfileNotFound', message: `profile ${record.spec.profileRef.name} was deleted while the container ran: stopped` }, decisions);
    }
    effective = fitBudget(record.spec.budget, profile.spec.budgetCeilings as FullBudget).effective;
  }
  gates.authorized = gates.policyAllowed = gates.budgetAvailable = 'True';

  if (!runtime) {
    Object.assign(gates, { runtimeReady: 'False', runtimeReason: 'RuntimeNotConfigured', runtimeMessage: `runtime ${runtimeKind} is not configured in this controller` });
    return write({ phase: 'Pending', reason: 'RuntimeNotConfigured', message: gates.runtimeMessage, requeueAfterMs: 30_000 }, decisions);
  }
  try {
    // Observe the runtime once.
    const version = await runtime.ping();
    deps.metrics.runtimeUp.set({ runtime: runtimeKind }, 1);
    Object.assign(gates, { runtimeReady: 'True', runtimeReason: 'RuntimeReady', runtimeMessage: version });
    const observation = await runtime.inspect(uid);
    const cpuSeconds = observation ? await runtime.cpuSeconds(uid) : undefined;
    const observed: ContainerObserved = { record, now, effective, started, runtime: runtimeKind, observation, cpuSeconds };
    let plan = decideContainer(observed);
    if (plan.action === 'create') {
      observed.created = await create(deps, runtime, record, profile!, effective, workspace);
      plan = decideContainer(observed);
    }
    if (plan.action === 'stop') await runtime.stop(uid, STOP_GRACE_SECONDS);
    if (plan.finished) {
      plan.status.logTail = await logTail(deps, runtime, record);
      try {
        const outputs = await collectOutputs(deps.outputs, runtime, record, profile, effective.localDiskBytes, now);
        if (outputs.length > 0) plan.status.outputs = outputs;
      } catch (err) {
        if (!(err instanceof RegistryError)) throw err;
        // Not finished until its outputs are kept: the stopped container stays, and this is tried again.
        return write({ phase: prev?.phase === 'Running' ? 'Running' : 'Creating', reason: 'OutputsNotStored', message: `waiting for the output registry ${deps.outputs?.host}: ${err.message}`, requeueAfterMs: 10_000, status: {} }, decisions);
      }
    }
    const result = await write(plan, decisions);
    if (isTerminalContainerPhase(plan.phase)) await runtime.remove(uid).catch(() => undefined);
    return result;
  } catch (err) {
    if (!(err instanceof RuntimeUnavailableError)) throw err;
    deps.metrics.runtimeUp.set({ runtime: runtimeKind }, 0);
    Object.assign(gates, { runtimeReady: 'False', runtimeReason: 'RuntimeUnavailable', runtimeMessage: err.message });
    await write({ phase: started ? (prev!.phase as ContainerPhase) : 'Pending', reason: 'RuntimeUnavailable', message: err.message }, decisions);
    // Rethrown so the work queue backs off (capped) until the runtime answers again.
    throw err;
  }
}

/** Creates (or adopts and starts) the container; a missing Secret or image holds the record. */
async function create(deps: ReconcilerDeps, runtime: ContainerRuntime, record: ContainerExecutionRecord, profile: AgentMachineProfile, effective: FullBudget, workspace: HostPathResolution | undefined): Promise<ContainerObserved['created']> {
  let spec: ContainerRunSpec;
  try {
    spec = await runSpecFor(deps, record, profile, effective, workspace);
  } catch (err) {
    if (!(err instanceof MissingSecretError)) throw err;
    return { held: 'SecretNotFound', message: err.message };
  }
  try {
    return await runtime.ensure(spec);
  } catch (err) {
    if (!(err instanceof ImageNotPresentError)) throw err;
    return { held: 'ImageNotPresent', message: err.message };
  }
}

/** The end of the log, redacted: if the redactor cannot vouch for it, none (fail closed). */
async function logTail(deps: ReconcilerDeps, runtime: ContainerRuntime, record: ContainerExecutionRecord): Promise<string> {
  const { secretValues } = await resolveEnv(deps.clients, record.metadata.namespace!, record.spec.container).catch(() => ({ secretValues: [] as string[] }));
  // Secret values in any encoding, tokens, keys, prompt fields and the prompt texts the
  // gateway forwarded for the execution out before it reaches status.
  const prompts = deps.prompts?.matcher([executionUidOf(record)]);
  const redacted = redact(await runtime.logTail(record.metadata.uid!, LOG_TAIL_READ_BYTES), { secretValues, ...(prompts ? { prompts } : {}) });
  const tail = redacted.ok ? redacted.text : '';
  return tail.length > LOG_TAIL_KEEP_CHARS ? tail.slice(tail.length - LOG_TAIL_KEEP_CHARS) : tail;
}

async function writeStatus(deps: ReconcilerDeps, record: ContainerExecutionRecord, o: Outcome, gates: Gates, decisions: Decision[], now: Date) {
  const { result } = await settle(deps, KIND, record, {
    now,
    verdict: {
      ...o,
      operationType: RUN,
      decisions,
      authorized: gates.authorized,
      policyAllowed: gates.policyAllowed,
      conditions: [budgetCondition(gates.budgetAvailable, o.message), { type: 'RuntimeReady', status: gates.runtimeReady, reason: gates.runtimeReason, message: gates.runtimeMessage }],
    },
    fields: { ...stripUndefined(record.status ?? {}), ...o.status, phase: o.phase },
  });
  return result;
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
