import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMachineProfile } from '../../../src/api/types.generated.ts';
import { profileFact } from '../../../src/reconcilers/facts.ts';

function profile(phase: string | undefined, ready: boolean, observedGeneration: number | undefined, generation = 2): AgentMachineProfile {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineProfile',
    metadata: { name: 'p', generation },
    spec: {} as AgentMachineProfile['spec'],
    ...(phase === undefined ? {} : { status: { phase, observedGeneration, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: phase, message: '', lastTransitionTime: '2026-12-07T00:00:00Z' }] } }),
  } as AgentMachineProfile;
}

test('profileFact: only a profile decided at its generation (Ready or Invalid) is settled; missing or not yet reconciled ones are waited for', () => {
  const f = (p: AgentMachineProfile | undefined) => {
    const x = profileFact(p, 'p');
    return [x.found, x.ready, x.settled];
  };
  assert.deepEqual(f(undefined), [false, false, false]);
  assert.deepEqual(f(profile(undefined, false, undefined)), [true, false, false], 'no status yet');
  assert.deepEqual(f(profile('Ready', true, 2)), [true, true, true]);
  assert.deepEqual(f(profile('Invalid', false, 2)), [true, false, true]);
  assert.deepEqual(f(profile('Ready', true, 1)), [true, false, false], 'Ready for an older generation: the edit is not decided yet');
  assert.deepEqual(f(profile('Invalid', false, 1)), [true, false, false]);
  assert.match(profileFact(profile('Invalid', false, 2), 'p').message, /not Ready \(Invalid\)/);
  assert.match(profileFact(profile('Ready', true, 1), 'p').message, /not yet reconciled/);
});
