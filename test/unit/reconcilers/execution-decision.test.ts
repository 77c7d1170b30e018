// decideExecution, with no API server: every branch of one reconcile's plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMachineProfile, ContainerExecutionRecord, LocalAgentExecution } from '../../../src/api/types.generated.ts';
import { attemptIndex, AUTHORITY_RECHECK_MS, decideExecution, OUTPUT_TAIL_MAX_CHARS, USED_REFRESH_MS, type ExecutionAction, type ExecutionAdmission, type ExecutionObserved } from '../../../src/reconcilers/execution-decision.ts';
import type { FullBudget } from '../../../src/governance/budget.ts';

const NOW = new Date('2026-01-01T00:10:00Z');
const EFFECTIVE = { wallClockSeconds: 600, cpuGpuComputeSeconds: 100, sandboxMemoryBytes: 64 << 20, localDiskBytes: 1 << 20 } as unknown as FullBudget;
const profile = { metadata: { name: 'p' }, spec: { budgetCeilings: { ...EFFECTIVE, agentConcurrency: 2 } } } as unknown as AgentMachineProfile;

function ex(status?: Record<string, unknown>, spec: Record<string, unknown> = {}): LocalAgentExecution {
  return {
    metadata: { name: 'e', namespace: 'ns', uid: 'u' },
    spec: { profileRef: { name: 'p' }, authority: { delegator: 'alice', delegate: 'bot' }, containers: [{ name: 'a', image: 'i' }, { name: 'b', image: 'i' }], ...spec },
    ...(status ? { status } : {}),
  } as unknown as LocalAgentExecution;
}

function rec(name: string, phase?: string, extra: Record<string, unknown> = {}): ContainerExecutionRecord {
  return { metadata: { name }, spec: {}, status: { ...(phase ? { phase } : {}), ...extra } } as unknown as ContainerExecutionRecord;
}

function action(o: Partial<ExecutionObserved> & { execution: LocalAgentExecution }): ExecutionAction {
  const plan = decideExecution({ now: NOW, profile, owned: [], ...o });
  assert.ok(plan.need === undefined && !plan.done, `an action, not ${JSON.stringify(plan)}`);
  return plan as ExecutionAction;
}

const admitted: ExecutionAdmission = { admitted: true, effective: EFFECTIVE, decisions: [{ gate: 'budget', rule: 'r', allowed: true, message: 'ok' }] as never };
const running = { phase: 'Running', attempts: 1, startedAt: '2026-01-01T00:05:00Z', deadline: '2026-01-01T00:15:00Z', budget: { effective: EFFECTIVE } };

test('finished executions need nothing; new ones need admission; a cancel before start needs none', () => {
  assert.deepEqual(decideExecution({ execution: ex({ phase: 'Succeeded' }), now: NOW, profile, owned: [] }), { done: true });
  assert.deepEqual(decideExecution({ execution: ex(), now: NOW, profile, owned: [] }), { need: 'admission' });
  const c = action({ execution: ex({ phase: 'Pending' }, { cancel: true }) });
  assert.deepEqual([c.phase, c.reason, c.auditedAs, c.effective], ['Cancelled', 'Cancelled', 'agent_machine.execution.cancel', undefined]);
});

test('a Queued execution whose turn has not come stays queued without asking admission again', () => {
  const q = action({ execution: ex({ phase: 'Queued', budget: { effective: EFFECTIVE } }), mayTakeSlot: false });
  assert.equal(q.phase, 'Queued');
  assert.equal(q.reason, 'WaitingForSlot');
  assert.equal(q.message, 'all 2 agentConcurrency slots of profile p are taken; queued in creation order');
  assert.equal(q.effective, EFFECTIVE);
  assert.equal(q.takeSlot, undefined);
  assert.deepEqual(decideExecution({ execution: ex({ phase: 'Queued' }), now: NOW, profile, owned: [], mayTakeSlot: true }), { need: 'admission' });
  assert.deepEqual(decideExecution({ execution: ex({ phase: 'Queued' }), now: NOW, profile: undefined, owned: [] }), { need: 'admission' }, 'no profile: admission says why');
});

test('admission: held → Pending (gates passed, re-checked in 10 s); denied → Denied with its gates', () => {
  const held = action({ execution: ex(), admission: { admitted: false, hold: true, reason: 'ModelProviderBindingNotFound', message: 'waiting', authorized: 'True', policyAllowed: 'Unknown', budgetAvailable: 'True', decisions: [] } });
  assert.deepEqual([held.phase, held.requeueAfterMs, held.gates.policyAllowed], ['Pending', 10_000, 'True']);
  const denied = action({ execution: ex(), admission: { admitted: false, reason: 'BudgetExceeded', message: 'over', authorized: 'True', policyAllowed: 'Unknown', budgetAvailable: 'False', decisions: [] } });
  assert.deepEqual([denied.phase, denied.reason, denied.gates], ['Denied', 'BudgetExceeded', { authorized: 'True', policyAllowed: 'Unknown', budgetAvailable: 'False' }]);
});

test('admitted: queued when no slot is free, else take one and start attempt 0; the deadline waits for a container', () => {
  assert.equal(action({ execution: ex(), admission: admitted, mayTakeSlot: false }).phase, 'Queued');
  const s = action({ execution: ex(), admission: admitted, mayTakeSlot: true });
  assert.equal(s.phase, 'Running');
  assert.equal(s.message, 'started 2 container(s)');
  assert.equal(s.takeSlot, true);
  assert.equal(s.createAttempt, 0);
  assert.equal(s.requeueAfterMs, undefined, 'no deadline before a container runs: record changes wake it');
  assert.deepEqual(s.status, { startedAt: '2026-01-01T00:10:00Z', attempts: 1 }, 'a run that started once has had one attempt');
  assert.equal(s.auditedAs, 'agent_machine.execution.start');
});

test('the wall clock starts when the first container does: the deadline is set then, and kept', () => {
  const noDeadline = { phase: 'Running', attempts: 1, startedAt: '2026-01-01T00:05:00Z', budget: { effective: EFFECTIVE } };
  const waiting = action({ execution: ex(noDeadline), owned: [rec('e-a', 'Pending'), rec('e-b', 'Pending')] });
  assert.equal(waiting.status.deadline, undefined);
  const started = action({ execution: ex(noDeadline), owned: [rec('e-a', 'Running', { startedAt: '2026-01-01T00:08:00Z' }), rec('e-b', 'Running', { startedAt: '2026-01-01T00:09:00Z' })] });
  assert.equal(started.status.deadline, '2026-01-01T00:18:00Z', 'wallClockSeconds after the first container started');
  assert.equal(started.requeueAfterMs, 10_000, 'the next refresh of the used figures comes before the deadline (8 min away)');
  const kept = action({ execution: ex(running), owned: [rec('e-a', 'Running', { startedAt: '2026-01-01T00:08:00Z' }), rec('e-b', 'Running')] });
  assert.equal(kept.status.deadline, undefined, 'already in status: not written again');
});

test('a container whose Pod has not run yet lends the execution its reason: never "containers running"', () => {
  const pod = rec('e-a', 'Pending', { containerId: 'pod-uid', conditions: [{ type: 'Ready', status: 'False', reason: 'SchedulingGated', message: 'waiting: the Pod is not scheduled: SchedulingGated' }] });
  const w = action({ execution: ex(running), owned: [pod, rec('e-b', 'Running')] });
  assert.deepEqual([w.phase, w.reason], ['Running', 'SchedulingGated']);
  assert.equal(w.message, 'waiting: container record e-a: the Pod is not scheduled: SchedulingGated');
  assert.equal(action({ execution: ex(running), owned: [rec('e-a', 'Running'), rec('e-b', 'Running')] }).message, 'containers running');
});

test("a container that cannot start lends the execution its reason; a cancel keeps it in the final message", () => {
  const blocked = rec('e-a', 'Pending', { conditions: [{ type: 'Ready', status: 'False', reason: 'ImageNotPresent', message: 'image localhost/x:1 is not on the engine' }] });
  const w = action({ execution: ex(running), owned: [blocked, rec('e-b', 'Running')] });
  assert.deepEqual([w.phase, w.reason], ['Running', 'ImageNotPresent']);
  assert.equal(w.message, 'waiting: container record e-a: image localhost/x:1 is not on the engine');
  const after = { ...running, conditions: [{ type: 'Ready', status: 'False', reason: 'ImageNotPresent', message: w.message }] };
  const c = action({ execution: ex(after, { cancel: true }), owned: [{ ...blocked, spec: { cancel: true }, status: { ...blocked.status, phase: 'Cancelled' } } as never, rec('e-b', 'Cancelled')] });
  assert.deepEqual([c.phase, c.reason], ['Cancelled', 'Cancelled']);
  assert.match(c.message, /^cancelled; every container stopped \(it was waiting: ImageNotPresent: container record e-a: image localhost\/x:1 is not on the engine\)$/);
  // Through the Cancelling step: its message carries the blocking reason on.
  const stopping = action({ execution: ex(after, { cancel: true }), owned: [blocked, rec('e-b', 'Running')] });
  assert.equal(stopping.reason, 'Cancelling');
  const cancelling = { ...running, conditions: [{ type: 'Ready', status: 'False', reason: 'Cancelling', message: stopping.message }] };
  const end = action({ execution: ex(cancelling, { cancel: true }), owned: [rec('e-a', 'Cancelled'), rec('e-b', 'Cancelled')] });
  assert.match(end.message, /^cancelled; every container stopped \(it was waiting: ImageNotPresent: /);
});

test('started: running until every record of the attempt is terminal, requeued at the deadline', () => {
  const r = action({ execution: ex(running), owned: [rec('e-a', 'Running'), rec('e-b', 'Succeeded', { exitCode: 0 })] });
  assert.equal(r.phase, 'Running');
  assert.equal(r.requeueAfterMs, 300_000);
  assert.deepEqual(r.status.containers, [{ name: 'a', recordName: 'e-a', phase: 'Running' }, { name: 'b', recordName: 'e-b', phase: 'Succeeded', exitCode: 0 }]);
  assert.equal(action({ execution: ex(running), owned: [rec('e-a', 'Succeeded'), rec('e-b', 'Succeeded')] }).phase, 'Succeeded');
  const c = action({ execution: ex(running), owned: [rec('e-a', 'Cancelled'), rec('e-b', 'Succeeded')] });
  assert.deepEqual([c.phase, c.reason, c.auditedAs], ['Cancelled', 'ContainerCancelled', 'agent_machine.execution.cancel']);
});

test('cancel, deadline and a deleted profile stop the containers, then end Cancelled', () => {
  const live = [rec('e-a', 'Running'), { ...rec('e-b', 'Running'), spec: { cancel: true } } as unknown as ContainerExecutionRecord];
  const stopping = action({ execution: ex(running, { cancel: true }), owned: live });
  assert.deepEqual([stopping.phase, stopping.reason, stopping.message, stopping.requeueAfterMs], ['Running', 'Cancelling', 'Cancelled: stopping the containers', 1_000]);
  assert.deepEqual(stopping.cancel.map((c) => c.metadata.name), ['e-a'], 'records already cancelled are not patched again');
  const stopped = action({ execution: ex(running, { cancel: true }), owned: [rec('e-a', 'Cancelled'), rec('e-b', 'Cancelled')] });
  assert.deepEqual([stopped.phase, stopped.reason, stopped.message], ['Cancelled', 'Cancelled', 'cancelled; every container stopped']);
  const late = action({ execution: ex(running), now: new Date('2026-01-01T00:15:00Z'), owned: [rec('e-a', 'Failed'), rec('e-b', 'Cancelled')] });
  assert.deepEqual([late.phase, late.reason, late.message], ['Cancelled', 'DeadlineExceeded', 'ran past its wallClockSeconds budget of 600 s']);
  const orphan = action({ execution: ex(running), profile: undefined, owned: [rec('e-a', 'Running'), rec('e-b', 'Running')] });
  assert.deepEqual([orphan.reason, orphan.message, orphan.cancel.length], ['Cancelling', 'ProfileNotFound: stopping the containers', 2]);
});

test('authority lost while running: cancelled (AuthorityLost) under a profile that cancels on it, ignored under deny-calls', () => {
  const firewall = { ...profile, spec: { ...profile.spec, profileType: 'corporate_firewall' } } as AgentMachineProfile;
  const lost = 'the ToolGrantRecord granting t to agent:x was lost: g revoked';
  const stopping = action({ execution: ex(running), profile: firewall, authorityLost: lost, owned: [rec('e-a', 'Running'), rec('e-b', 'Succeeded')] });
  assert.deepEqual([stopping.phase, stopping.reason, stopping.message, stopping.cancel.map((c) => c.metadata.name)], ['Running', 'Cancelling', 'AuthorityLost: stopping the containers', ['e-a', 'e-b']]);
  const stopped = action({ execution: ex(running), profile: firewall, authorityLost: lost, owned: [rec('e-a', 'Cancelled'), rec('e-b', 'Succeeded')] });
  assert.deepEqual([stopped.phase, stopped.reason, stopped.auditedAs], ['Cancelled', 'AuthorityLost', 'agent_machine.execution.cancel']);
  assert.match(stopped.message, /authority lost while running: the ToolGrantRecord .* g revoked; profile p cancels on it \(onAuthorityLost: cancel\)/);
  // deny-calls (the default of other profile types, or chosen): the run goes on; its gateway calls are refused.
  for (const p of [profile, { ...firewall, spec: { ...firewall.spec, onAuthorityLost: 'deny-calls' } } as AgentMachineProfile]) {
    const on = action({ execution: ex(running), profile: p, authorityLost: lost, owned: [rec('e-a', 'Running'), rec('e-b', 'Running')] });
    assert.deepEqual([on.phase, on.reason, on.cancel.length], ['Running', 'Running', 0]);
  }
  const personalCancels = { ...profile, spec: { ...profile.spec, profileType: 'personal', onAuthorityLost: 'cancel' } } as AgentMachineProfile;
  assert.equal(action({ execution: ex(running), profile: personalCancels, authorityLost: lost, owned: [rec('e-a', 'Cancelled'), rec('e-b', 'Cancelled')] }).reason, 'AuthorityLost');
});

test('running under a profile that cancels on lost authority: looked at again every 10 s, else at the deadline', () => {
  const firewall = { ...profile, spec: { ...profile.spec, profileType: 'corporate_firewall' } } as AgentMachineProfile;
  const owned = [rec('e-a', 'Running'), rec('e-b', 'Running')];
  assert.equal(action({ execution: ex(running), profile: firewall, owned }).requeueAfterMs, AUTHORITY_RECHECK_MS);
  assert.equal(action({ execution: ex(running), profile, owned }).requeueAfterMs, 300_000);
  assert.equal(action({ execution: ex(running), profile: firewall, owned, now: new Date('2026-01-01T00:14:57Z') }).requeueAfterMs, 3_000, 'the deadline first when nearer');
});

test('CPU seconds are summed over every container and attempt: past the budget, all stop and it fails without retry', () => {
  const used = (name: string, phase: string, seconds: number) => rec(name, phase, { cpuGpuComputeSecondsUsed: seconds });
  const within = action({ execution: ex(running), owned: [used('e-a', 'Running', 50), used('e-b', 'Running', 50)] });
  assert.deepEqual([within.phase, within.reason], ['Running', 'Running'], 'at the budget is not past it');
  const over = action({ execution: ex(running, { retryPolicy: { maxRetries: 3 } }), owned: [used('e-a', 'Running', 60), used('e-b', 'Running', 41)] });
  assert.deepEqual([over.phase, over.reason, over.message], ['Running', 'Cancelling', 'ComputeBudgetExceeded: stopping the containers']);
  assert.deepEqual(over.cancel.map((c) => c.metadata.name), ['e-a', 'e-b']);
  const earlier = used('e-a', 'Failed', 90);
  const ended = action({ execution: ex({ ...running, attempts: 2 }, { retryPolicy: { maxRetries: 3 } }), owned: [earlier, used('e-a-r1', 'Cancelled', 6), used('e-b-r1', 'Cancelled', 5)] });
  assert.deepEqual([ended.phase, ended.reason, ended.auditedAs], ['Failed', 'ComputeBudgetExceeded', 'agent_machine.execution.start']);
  assert.equal(ended.message, 'its containers used 101 CPU seconds (summed over every container and attempt) of a 100 s cpuGpuComputeSeconds budget');
});

test('a failed attempt is retried within retryPolicy, then fails with the record reason', () => {
  const failed = { ...rec('e-a', 'Failed'), status: { phase: 'Failed', conditions: [{ type: 'Ready', status: 'False', reason: 'OOMKilled', message: 'killed' }] } } as unknown as ContainerExecutionRecord;
  const retry = action({ execution: ex(running, { retryPolicy: { maxRetries: 2, backoffSeconds: 5 } }), owned: [failed, rec('e-b', 'Succeeded')] });
  assert.deepEqual([retry.phase, retry.requeueAfterMs, retry.status.attempts], ['Retrying', 5_000, 2], 'the second attempt is about to start');
  assert.equal(retry.message, 'container record e-a Failed: killed; retry 1 of 2 in 5 s');
  const next = action({ execution: ex({ ...running, phase: 'Retrying', attempts: 2 }, { retryPolicy: { maxRetries: 2 } }), owned: [failed] });
  assert.deepEqual([next.phase, next.message, next.createAttempt], ['Running', 'attempt 2 started', 1]);
  const last = action({ execution: ex({ ...running, attempts: 3 }, { retryPolicy: { maxRetries: 2 } }), owned: [{ ...failed, metadata: { name: 'e-a-r2' } } as ContainerExecutionRecord, rec('e-b-r2', 'Succeeded')] });
  assert.deepEqual([last.phase, last.reason], ['Failed', 'OOMKilled']);
});

test('attempts count from 1; records are named by the index (attempts - 1); a status without the field is the first attempt', () => {
  assert.deepEqual([attemptIndex(undefined), attemptIndex(0), attemptIndex(1), attemptIndex(3)], [0, 0, 0, 2]);
});

test('used figures while running: refreshed on each 10 s step of the wall clock since the first container started, CPU with them, with a requeue at the next step', () => {
  const at = (iso: string) => new Date(iso);
  const owned = (cpu: number) => [rec('e-a', 'Running', { startedAt: '2026-01-01T00:09:00Z', cpuGpuComputeSecondsUsed: cpu }), rec('e-b', 'Running', { cpuGpuComputeSecondsUsed: 1 })];
  const first = action({ execution: ex(running), owned: owned(3), now: at('2026-01-01T00:09:23.500Z') });
  assert.deepEqual(first.used, { wallClockSeconds: 20, cpuGpuComputeSeconds: 4 });
  assert.equal(first.requeueAfterMs, 6_500, 'at 00:09:30, the next step');
  const sameStep = action({ execution: ex({ ...running, budget: { effective: EFFECTIVE, used: first.used } }), owned: owned(7), now: at('2026-01-01T00:09:27Z') });
  assert.deepEqual(sameStep.used, first.used, 'CPU moved within the step: kept, so the status is not written for it');
  const next = action({ execution: ex({ ...running, budget: { effective: EFFECTIVE, used: first.used } }), owned: owned(7), now: at('2026-01-01T00:09:30Z') });
  assert.deepEqual(next.used, { wallClockSeconds: 30, cpuGpuComputeSeconds: 8 });
  assert.ok(next.requeueAfterMs! <= USED_REFRESH_MS);
  const none = action({ execution: ex(running), owned: [rec('e-a', 'Pending'), rec('e-b', 'Pending')] });
  assert.equal(none.used, undefined, 'no container started: no time is the agent\'s');
});

test('used figures at the end are exact, and the succeeded execution carries each container\'s output tail, bounded', () => {
  const long = `${'x'.repeat(5000)}\nlast line`;
  const done = action({
    execution: ex(running),
    owned: [rec('e-a', 'Succeeded', { startedAt: '2026-01-01T00:09:00Z', exitCode: 0, cpuGpuComputeSecondsUsed: 2, logTail: 'hello\n' }), rec('e-b', 'Succeeded', { exitCode: 0, logTail: long })],
    now: new Date('2026-01-01T00:09:42.600Z'),
  });
  assert.equal(done.phase, 'Succeeded');
  assert.deepEqual(done.used, { wallClockSeconds: 43, cpuGpuComputeSeconds: 2 });
  assert.equal(done.requeueAfterMs, undefined);
  const [a, b] = done.status.containers!;
  assert.deepEqual(a, { name: 'a', recordName: 'e-a', phase: 'Succeeded', exitCode: 0, outputTail: 'hello\n' });
  assert.equal(b!.outputTail!.length, OUTPUT_TAIL_MAX_CHARS);
  assert.ok(b!.outputTail!.endsWith('\nlast line'), 'the end is kept');
});
