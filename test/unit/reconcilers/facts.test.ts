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

test('profileFact: a profile not found suggests the nearest existing name; one being deleted is still usable but says so', () => {
  assert.equal(profileFact(undefined, 'personel', () => ['personal', 'team-ci']).message, 'profile personel not found (did you mean personal?): everything under it fails closed');
  assert.equal(profileFact(undefined, 'prod', () => ['personal']).message, 'profile prod not found: everything under it fails closed');
  const deleting = { ...profile('Ready', true, 2), metadata: { name: 'p', generation: 2, deletionTimestamp: '2026-12-07T00:00:00Z' } } as unknown as AgentMachineProfile;
  const f = profileFact(deleting, 'p');
  assert.deepEqual([f.found, f.ready, f.settled, f.deleting], [true, true, true, true]);
  assert.match(f.message, /being deleted: nothing new is admitted under it/);
  assert.equal(profileFact(profile('Ready', true, 2), 'p').deleting, false);
  // The API server bumps the generation when the deletion starts: still the spec decided.
  const bumped = { ...profile('Ready', true, 2, 3), metadata: { name: 'p', generation: 3, deletionTimestamp: '2026-12-07T00:00:00Z' } } as unknown as AgentMachineProfile;
  assert.deepEqual([profileFact(bumped, 'p').ready, profileFact(bumped, 'p').deleting], [true, true]);
  const edited = { ...profile('Ready', true, 2, 4), metadata: { name: 'p', generation: 4, deletionTimestamp: '2026-12-07T00:00:00Z' } } as unknown as AgentMachineProfile;
  assert.equal(profileFact(edited, 'p').ready, false, 'edited while being deleted: not decided yet');
});
