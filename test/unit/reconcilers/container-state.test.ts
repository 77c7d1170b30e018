import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideRun, type RunFacts } from '../../../src/reconcilers/container-state.ts';
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

test('once the record is started, a created (Pending Pod) container is left to run', () => {
  const d = decideRun(facts({ id: 'c1', state: 'created' }, true));
  assert.equal(d.action, 'none');
  assert.equal(d.phase, 'Running');
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
