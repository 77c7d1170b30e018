import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admitContainer, decideRun, type RunFacts } from '../../../src/reconcilers/container-state.ts';
import { allow, deny } from '../../../src/governance/decision.ts';
import type { AuthorizationOutcome } from '../../../src/reconcilers/authorization.ts';
import type { ContainerExecutionRecord } from '../../../src/api/types.generated.ts';
import type { FullBudget } from '../../../src/governance/budget.ts';
import type { ContainerObservation } from '../../../src/runtimes/container-runtime.ts';

const record = { spec: { authority: { delegator: 'alice', delegate: 'agent:t', scopes: [], expiresAt: '2030-01-01T00:00:00Z', purpose: 't' }, container: { image: 'i' } } } as unknown as ContainerExecutionRecord;
const effective = { wallClockSeconds: 60, cpuGpuComputeSeconds: 60, sandboxMemoryBytes: 64 << 20 } as FullBudget;
const facts = (observation: ContainerObservation | undefined, started: boolean): RunFacts => ({ record, now: new Date('2026-01-01T00:00:00Z'), effective, observation, started });

test('a container created but never started before a restart is started (adopted), not taken for running', () => {
  const d = decideRun(facts({ id: 'c1', state: 'created' }, false));
  assert.equal(d.action, 'create');
  assert.equal(d.phase, 'Creating');
});

test('once the record is started, a created (Pending Pod) container is left to run and reported Pending with the Pod\'s reason', () => {
  const d = decideRun(facts({ id: 'c1', state: 'created', waiting: { reason: 'SchedulingGated', message: 'the Pod is not scheduled: SchedulingGated' } }, true));
  assert.equal(d.action, 'none');
  assert.deepEqual([d.phase, d.reason, d.message], ['Pending', 'SchedulingGated', 'waiting: the Pod is not scheduled: SchedulingGated']);
  const running = decideRun(facts({ id: 'c1', state: 'running' }, true));
  assert.equal(running.phase, 'Running');
});

test('no container: created when not started yet, lost when it had started', () => {
  assert.equal(decideRun(facts(undefined, false)).action, 'create');
  const lost = decideRun(facts(undefined, true));
  assert.equal(lost.phase, 'Failed');
  assert.equal(lost.reason, 'ContainerLost');
});

test('an exited container decides the phase by its exit code', () => {
  assert.equal(decideRun(facts({ id: 'c1', state: 'exited', exitCode: 0 }, true)).phase, 'Succeeded');
  assert.equal(decideRun(facts({ id: 'c1', state: 'exited', exitCode: 3 }, true)).phase, 'Failed');
});

// Admission: profile, authorization, budget and policy gates, in that order.
const MiB = 1024 * 1024;
const admissionBudget = { wallClockSeconds: 60, cpuGpuComputeSeconds: 60, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 8 * MiB } as FullBudget;
const readyProfile = { found: true, ready: true, settled: true, message: 'profile p is Ready' };

test('a profile that is not there or not Ready yet holds admission; nothing else is asked', () => {
  const missing = admitContainer({ profile: { found: false, ready: false, settled: false, message: 'profile p not found' } });
  assert.ok(!missing.need && !missing.admitted && missing.hold && missing.reason === 'ProfileNotFound');
  assert.ok(!missing.need && !missing.admitted && missing.message === 'waiting: profile p not found', 'a held refusal says it waits');
  const notReady = admitContainer({ profile: { found: true, ready: false, settled: false, message: 'profile p is Pending' } });
  assert.ok(!notReady.need && !notReady.admitted && notReady.hold && notReady.reason === 'ProfileNotReady');
});

test('without the admission policy nobody can tell who asked: held; any other authorization refusal denies', () => {
  const unverifiable = admitContainer({ profile: readyProfile, authorization: { allowed: false, reason: 'AuthorityUnverifiable', message: 'no admission policy', decisions: [] } });
  assert.ok(!unverifiable.need && !unverifiable.admitted && unverifiable.hold);
  const denied = admitContainer({ profile: readyProfile, authorization: { allowed: false, reason: 'PermissionDenied', message: 'no', decisions: [deny('authority', 'rbac', 'no')] } });
  assert.ok(!denied.need && !denied.admitted && !denied.hold && denied.reason === 'PermissionDenied');
});

test('budget and policy refusals deny; all gates passing admits with the effective budget', () => {
  const authorization = { allowed: true as const, decisions: [allow('authority', 'x', 'ok')] } as unknown as AuthorizationOutcome;
  const over = admitContainer({ profile: readyProfile, authorization, budget: { effective: admissionBudget, decisions: [deny('budget', 'ceiling', 'too much')] } });
  assert.ok(!over.need && !over.admitted && !over.hold && over.reason === 'BudgetExceeded');
  const policy = admitContainer({ profile: readyProfile, authorization, budget: { effective: admissionBudget, decisions: [] }, policy: { allowed: false, decisions: [deny('containerExecution', 'registry', 'not allowed')] } });
  assert.ok(!policy.need && !policy.admitted && !policy.hold && policy.reason === 'PolicyDenied');
  const ok = admitContainer({ profile: readyProfile, authorization, budget: { effective: admissionBudget, decisions: [] }, policy: { allowed: true, decisions: [] } });
  assert.ok(!ok.need && ok.admitted && ok.effective === admissionBudget);
});

test('a container the controller stopped keeps that reason, even when a cancel follows; a plain cancel is Cancelled', () => {
  const exited: ContainerObservation = { id: 'c1', state: 'exited', exitCode: 137 };
  const cancelled = { ...record, spec: { ...record.spec, cancel: true } } as ContainerExecutionRecord;
  const stopped = decideRun({ ...facts(exited, true), record: cancelled, previousReason: 'ComputeBudgetExceeded' });
  assert.deepEqual([stopped.phase, stopped.reason], ['Failed', 'ComputeBudgetExceeded']);
  const plain = decideRun({ ...facts(exited, true), record: cancelled, previousReason: 'Cancelling' });
  assert.deepEqual([plain.phase, plain.reason], ['Cancelled', 'Cancelled']);
});

test('CPU seconds past the record\'s budget stop the container with ComputeBudgetExceeded', () => {
  const running: ContainerObservation = { id: 'c1', state: 'running' };
  assert.equal(decideRun({ ...facts(running, true), cpuSeconds: 60 }).reason, 'Running', 'at the budget is not past it');
  const over = decideRun({ ...facts(running, true), cpuSeconds: 60.5 });
  assert.deepEqual([over.phase, over.reason, over.action], ['Running', 'ComputeBudgetExceeded', 'stop']);
});
