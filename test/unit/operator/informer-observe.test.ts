// Informer.observe (read-your-writes) against a stand-in list: the watch has nowhere to
// connect, so only the list and observe() shape the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Informer } from '../../../src/operator/informer.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { defineResource } from '../../../src/operator/resource.ts';
import { isNewerResourceVersion } from '../../../src/operator/resource-version.ts';

const THINGS = defineResource({ group: 'example.com', version: 'v1', plural: 'things', kind: 'Thing', namespaced: true });
const thing = (rv: string, phase: string, uid = 'u1'): KubernetesObject & { status: { phase: string } } => ({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 't', namespace: 'n', uid, resourceVersion: rv }, status: { phase } });

function listing(items: KubernetesObject[]): KubeClients {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }, { name: 'u' });
  return { kubeConfig: kc, request: async () => ({ metadata: { resourceVersion: '10' }, items }) } as unknown as KubeClients;
}

test('resourceVersions compare as decimal integers, anything else is never newer', () => {
  assert.equal(isNewerResourceVersion('11', '9'), true);
  assert.equal(isNewerResourceVersion('9', '11'), false);
  assert.equal(isNewerResourceVersion('9', '9'), false);
  assert.equal(isNewerResourceVersion('123456789012345678901', '123456789012345678900'), true);
  assert.equal(isNewerResourceVersion('abc', '1'), false);
  assert.equal(isNewerResourceVersion(undefined, '1'), false);
});

test('observe() applies a newer own write at once (cache and update handlers), and ignores older, foreign or unknown objects', async (t) => {
  const informer = new Informer(listing([thing('5', 'Running')]), THINGS, { resyncPeriodMs: 0, backoff: { initialMs: 10_000, maxMs: 10_000 } });
  const events: string[] = [];
  informer.on({ add: () => events.push('add'), update: () => events.push('update') });
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(5_000);
  assert.deepEqual(events, ['add']);

  informer.observe(thing('7', 'Succeeded'));
  assert.equal((informer.get('n/t') as ReturnType<typeof thing>).status.phase, 'Succeeded');
  informer.observe(thing('6', 'Failed'));
  assert.equal((informer.get('n/t') as ReturnType<typeof thing>).status.phase, 'Succeeded', 'an older write does not go back in time');
  informer.observe(thing('9', 'Failed', 'another-uid'));
  assert.equal((informer.get('n/t') as ReturnType<typeof thing>).status.phase, 'Succeeded', 'a recreated object is the watch\'s business');
  informer.observe({ ...thing('9', 'Running'), metadata: { name: 'other', namespace: 'n', uid: 'u2', resourceVersion: '9' } });
  assert.equal(informer.get('n/other'), undefined, 'objects not cached are left to the watch');
  assert.deepEqual(events, ['add', 'update'], 'handlers hear of the observed write once');
});
