import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_MAPS, LEASES, defineResource, keyOf, objectKey, parseKey } from '../../../src/operator/resource.ts';
import { metaTime, microTime } from '../../../src/operator/time.ts';
import { truncateUtf8, MAX_NOTE_BYTES } from '../../../src/operator/events.ts';
import { backoffDelay, Backoff, sleep } from '../../../src/operator/backoff.ts';
import { ownerKeys } from '../../../src/operator/controller.ts';

const GRANTS = defineResource({
  group: 'agentmachine.sourceos.dev',
  version: 'v1alpha1',
  plural: 'toolgrantrecords',
  kind: 'ToolGrantRecord',
  namespaced: true,
});
const PROFILES = defineResource({
  group: 'agentmachine.sourceos.dev',
  version: 'v1alpha1',
  plural: 'agentmachineprofiles',
  kind: 'AgentMachineProfile',
  namespaced: false,
});

test('apiPath for core, grouped, namespaced and cluster-scoped kinds', () => {
  assert.equal(CONFIG_MAPS.apiVersion, 'v1');
  assert.equal(CONFIG_MAPS.apiPath(), '/api/v1/configmaps');
  assert.equal(CONFIG_MAPS.apiPath('ns1'), '/api/v1/namespaces/ns1/configmaps');
  assert.equal(CONFIG_MAPS.apiPath('ns1', 'cm'), '/api/v1/namespaces/ns1/configmaps/cm');
  assert.equal(LEASES.apiPath('kube-system', 'x'), '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x');
  assert.equal(GRANTS.apiVersion, 'agentmachine.sourceos.dev/v1alpha1');
  assert.equal(GRANTS.apiPath('t', 'g', 'status'), '/apis/agentmachine.sourceos.dev/v1alpha1/namespaces/t/toolgrantrecords/g/status');
  assert.equal(PROFILES.apiPath(undefined, 'p'), '/apis/agentmachine.sourceos.dev/v1alpha1/agentmachineprofiles/p');
  assert.equal(PROFILES.apiPath('ignored', 'p'), '/apis/agentmachine.sourceos.dev/v1alpha1/agentmachineprofiles/p');
  assert.throws(() => GRANTS.apiPath(undefined, 'g'), /needs a namespace/);
  assert.throws(() => GRANTS.apiPath('t', undefined, 'status'), /needs an object name/);
});

test('object keys', () => {
  assert.equal(objectKey({ metadata: { name: 'a', namespace: 'n' } }), 'n/a');
  assert.equal(objectKey({ metadata: { name: 'p' } }), 'p');
  assert.throws(() => objectKey({ kind: 'X', metadata: {} }), /no metadata.name/);
  assert.deepEqual(parseKey('n/a'), { namespace: 'n', name: 'a' });
  assert.deepEqual(parseKey('p'), { name: 'p' });
  assert.equal(keyOf('a', 'n'), 'n/a');
  assert.equal(keyOf('a'), 'a');
});

test('ownerKeys maps owned objects to their owners of one kind', () => {
  const pod = {
    metadata: {
      name: 'p',
      namespace: 'n',
      ownerReferences: [
        { apiVersion: 'x/v1', kind: 'ContainerExecutionRecord', name: 'run-1', uid: '1' },
        { apiVersion: 'v1', kind: 'Other', name: 'o', uid: '2' },
      ],
    },
  };
  assert.deepEqual(ownerKeys('ContainerExecutionRecord', true)(pod), ['n/run-1']);
  assert.deepEqual(ownerKeys('Other', false)(pod), ['o']);
  assert.deepEqual(ownerKeys('Missing', true)({ metadata: { name: 'x' } }), []);
});

test('API timestamps', () => {
  const d = new Date('2025-03-01T10:00:00.123Z');
  assert.equal(metaTime(d), '2025-03-01T10:00:00Z');
  assert.equal(microTime(d), '2025-03-01T10:00:00.123000Z');
});

test('event notes are cut to 1 kB of UTF-8 without splitting characters', () => {
  assert.equal(truncateUtf8('short', MAX_NOTE_BYTES), 'short');
  const long = 'é'.repeat(2000);
  const cut = truncateUtf8(long, MAX_NOTE_BYTES);
  assert.ok(Buffer.byteLength(cut) <= MAX_NOTE_BYTES);
  assert.ok(cut.endsWith('…'));
  assert.ok(!cut.includes('\uFFFD'));
});

test('backoff doubles up to its cap and resets', async () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, { initialMs: 200, maxMs: 30_000 })), [
    200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000,
  ]);
  const b = new Backoff({ initialMs: 10, maxMs: 15, jitter: 0.5 });
  const first = b.next();
  assert.ok(first >= 10 && first <= 15);
  assert.ok(b.next() <= 15, 'jitter never exceeds the cap');
  b.reset();
  assert.equal(b.failures, 0);
  const ac = new AbortController();
  const started = Date.now();
  const s = sleep(10_000, ac.signal);
  ac.abort();
  await s;
  assert.ok(Date.now() - started < 1_000, 'an aborted sleep returns at once');
});
