// The derivations every upstream record family shares: status, device id, times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceIdFor, entriesAbout, isDenied, isoTime, upstreamStatus } from '../../../../src/api/upstream-records/common.ts';
import { exampleObjects, scenario } from '../../../support/upstream-record-fixtures.ts';

const examples = exampleObjects();

test('upstream status: cancelled is canceled, a denial is blocked, a failure failed, for every kind', () => {
  for (const { obj } of examples) {
    assert.equal(upstreamStatus(obj), 'queued', `${obj.kind} before the first reconcile`);
    const denied = scenario(obj, 'denied').obj;
    assert.equal(upstreamStatus(denied), isDenied(denied) ? 'blocked' : 'failed', obj.kind);
    if (obj.kind !== 'AgentMachineProfile') assert.equal(upstreamStatus(denied), 'blocked', `${obj.kind} Denied`);
    // A grant's 'cancelled' scenario is its revocation: a revoke command that completes.
    assert.equal(upstreamStatus(scenario(obj, 'cancelled').obj), obj.kind === 'ToolGrantRecord' ? 'completed' : 'canceled', obj.kind);
    assert.equal(upstreamStatus(scenario(obj, 'completed').obj), 'completed', obj.kind);
  }
});

test('the device id is stable, depends on cluster and node, and publishes neither', () => {
  const a = deviceIdFor({ clusterUid: 'c1', node: 'n1' });
  assert.equal(a, deviceIdFor({ clusterUid: 'c1', node: 'n1' }));
  assert.notEqual(a, deviceIdFor({ clusterUid: 'c2', node: 'n1' }));
  assert.notEqual(a, deviceIdFor({ clusterUid: 'c1', node: 'n2' }));
  assert.match(a, /^urn:srcos:device-identity:k8s-[0-9a-f]{32}$/);
  assert.ok(!a.includes('c1') && !a.includes('n1'));
});

test('audit entries are matched by UID, not name (names are reused)', () => {
  const obj = examples.find((e) => e.obj.kind === 'LocalAgentExecution')!.obj;
  const s = scenario(obj, 'completed');
  const reused = { ...obj, metadata: { ...obj.metadata, uid: 'another-uid' } } as typeof obj;
  assert.equal(entriesAbout(s.obj, s.audit).length, s.audit.length);
  assert.equal(entriesAbout(reused, s.audit).length, 0);
});

test('times are RFC 3339; what is not a time is not passed on', () => {
  assert.equal(isoTime('2026-05-07T00:00:00Z'), '2026-05-07T00:00:00.000Z');
  assert.equal(isoTime(new Date('2026-05-07T00:00:00Z')), '2026-05-07T00:00:00.000Z');
  assert.equal(isoTime('yesterday'), undefined);
  assert.equal(isoTime(undefined), undefined);
});
