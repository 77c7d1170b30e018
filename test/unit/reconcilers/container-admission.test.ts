import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admitContainer } from '../../../src/reconcilers/container-state.ts';
import { allow, deny } from '../../../src/governance/decision.ts';
import type { FullBudget } from '../../../src/governance/budget.ts';
import type { AuthorizationOutcome } from '../../../src/reconcilers/authorization.ts';

const MiB = 1024 * 1024;
const effective = { wallClockSeconds: 60, cpuGpuComputeSeconds: 60, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 8 * MiB } as FullBudget;
const readyProfile = { found: true, ready: true, message: 'profile p is Ready' };

test('a profile that is not there or not Ready yet holds admission; nothing else is asked', () => {
  const missing = admitContainer({ profile: { found: false, ready: false, message: 'profile p not found' } });
  assert.ok(!missing.need && !missing.admitted && missing.hold && missing.reason === 'ProfileNotFound');
  assert.ok(!missing.need && !missing.admitted && missing.message === 'waiting: profile p not found', 'a held refusal says it waits');
  const notReady = admitContainer({ profile: { found: true, ready: false, message: 'profile p is Pending' } });
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
  const over = admitContainer({ profile: readyProfile, authorization, budget: { effective, decisions: [deny('budget', 'ceiling', 'too much')] } });
  assert.ok(!over.need && !over.admitted && !over.hold && over.reason === 'BudgetExceeded');
  const policy = admitContainer({ profile: readyProfile, authorization, budget: { effective, decisions: [] }, policy: { allowed: false, decisions: [deny('containerExecution', 'registry', 'not allowed')] } });
  assert.ok(!policy.need && !policy.admitted && !policy.hold && policy.reason === 'PolicyDenied');
  const ok = admitContainer({ profile: readyProfile, authorization, budget: { effective, decisions: [] }, policy: { allowed: true, decisions: [] } });
  assert.ok(!ok.need && ok.admitted && ok.effective === effective);
});
