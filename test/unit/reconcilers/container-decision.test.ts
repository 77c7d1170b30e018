// decideContainer, with no runtime and no API server: what one pass does with what it saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideContainer, type ContainerObserved } from '../../../src/reconcilers/container-decision.ts';
import type { ContainerExecutionRecord } from '../../../src/api/types.generated.ts';
import type { FullBudget } from '../../../src/governance/budget.ts';

const NOW = new Date('2026-01-01T00:01:00Z');
const effective = { wallClockSeconds: 60, cpuGpuComputeSeconds: 10, sandboxMemoryBytes: 64 << 20 } as FullBudget;
function record(status?: Record<string, unknown>, spec: Record<string, unknown> = {}): ContainerExecutionRecord {
  return {
    metadata: { name: 'r', namespace: 'ns', uid: 'u' },
    spec: { authority: { delegator: 'alice', delegate: 'agent:t', scopes: [], expiresAt: '2030-01-01T00:00:00Z', purpose: 't' }, container: { image: 'i' }, ...spec },
    ...(status ? { status } : {}),
  } as unknown as ContainerExecutionRecord;
}
const observed = (o: Partial<ContainerObserved> & { record: ContainerExecutionRecord }): ContainerObserved => ({ now: NOW, effective, started: false, runtime: 'docker', ...o });
const running = { phase: 'Running', startedAt: '2026-01-01T00:00:30Z', containerId: 'c1' };

test('no container yet: create it; the status names the runtime only', () => {
  const p = decideContainer(observed({ record: record() }));
  assert.deepEqual([p.phase, p.action, p.finished], ['Creating', 'create', false]);
  assert.deepEqual(p.status, { runtime: 'docker' });
});

test('after create: running (startedAt from the runtime), or held by a missing Secret or image', () => {
  const up = decideContainer(observed({ record: record(), created: { id: 'c1', state: 'running', startedAt: '2026-01-01T00:00:59Z' } }));
  assert.deepEqual([up.phase, up.reason, up.action, up.requeueAfterMs], ['Running', 'Running', 'none', 1_000]);
  assert.deepEqual(up.status, { runtime: 'docker', containerId: 'c1', startedAt: '2026-01-01T00:00:59Z' });
  const pending = decideContainer(observed({ record: record(), created: { id: 'pod-uid', state: 'created', waiting: { reason: 'Unschedulable', message: 'the Pod is not scheduled: Unschedulable: 0/1 nodes are available' } } }));
  assert.deepEqual([pending.phase, pending.reason], ['Pending', 'Unschedulable'], 'a Pod that never ran is not Running');
  assert.equal(pending.status.containerId, 'pod-uid', 'its container exists (the record is admitted)');
  assert.equal(pending.status.startedAt, undefined, 'wallClockSeconds starts when a container runs');
  const noSecret = decideContainer(observed({ record: record(), created: { held: 'SecretNotFound', message: 'env X: secret s key k not found' } }));
  assert.deepEqual([noSecret.phase, noSecret.reason, noSecret.requeueAfterMs, noSecret.finished], ['Pending', 'SecretNotFound', 10_000, false]);
  const noImage = decideContainer(observed({ record: record(), created: { held: 'ImageNotPresent', message: 'no image' } }));
  assert.deepEqual([noImage.phase, noImage.requeueAfterMs], ['Pending', 30_000]);
});

test('exited before ensure() returned: finished at once, log tail and removal included', () => {
  const p = decideContainer(observed({ record: record(), created: { id: 'c1', state: 'exited', exitCode: 0, finishedAt: '2026-01-01T00:00:59Z' } }));
  assert.deepEqual([p.phase, p.finished], ['Succeeded', true]);
  assert.equal(p.status.exitCode, 0);
  assert.equal(p.status.oomKilled, false);
  assert.equal(p.status.startedAt, '2026-01-01T00:01:00Z', 'no start time known: now');
});

test('running: CPU use recorded; stopped past the compute budget or the deadline, keeping its startedAt', () => {
  const ok = decideContainer(observed({ record: record(running), started: true, observation: { id: 'c1', state: 'running' }, cpuSeconds: 2.2 }));
  assert.deepEqual([ok.phase, ok.action], ['Running', 'none']);
  assert.deepEqual(ok.status, { runtime: 'docker', cpuGpuComputeSecondsUsed: 3, containerId: 'c1', startedAt: '2026-01-01T00:00:30Z' });
  const greedy = decideContainer(observed({ record: record(running), started: true, observation: { id: 'c1', state: 'running' }, cpuSeconds: 11 }));
  assert.deepEqual([greedy.reason, greedy.action], ['ComputeBudgetExceeded', 'stop']);
  const late = decideContainer(observed({ record: record(running), started: true, now: new Date('2026-01-01T00:01:30Z'), observation: { id: 'c1', state: 'running' } }));
  assert.deepEqual([late.reason, late.action], ['DeadlineExceeded', 'stop']);
});

test('exit after a stop the controller caused keeps that reason; an OOM kill is reported; cancel ends Cancelled', () => {
  const stopped = record({ ...running, conditions: [{ type: 'Ready', status: 'False', reason: 'DeadlineExceeded', message: '' }] });
  const d = decideContainer(observed({ record: stopped, started: true, observation: { id: 'c1', state: 'exited', exitCode: 143 } }));
  assert.deepEqual([d.phase, d.reason, d.finished], ['Failed', 'DeadlineExceeded', true]);
  const oom = decideContainer(observed({ record: record(running), started: true, observation: { id: 'c1', state: 'exited', exitCode: 137, oomKilled: true } }));
  assert.deepEqual([oom.phase, oom.reason, oom.status.oomKilled], ['Failed', 'OOMKilled', true]);
  const cancelling = decideContainer(observed({ record: record(running, { cancel: true }), started: true, observation: { id: 'c1', state: 'running' } }));
  assert.deepEqual([cancelling.reason, cancelling.action, cancelling.finished], ['Cancelling', 'stop', false]);
  const lost = decideContainer(observed({ record: record(running), started: true }));
  assert.deepEqual([lost.phase, lost.reason, lost.finished], ['Failed', 'ContainerLost', false], 'nothing to read a tail from');
});
