// Informer indexes follow every way the cache changes: list, watch events (add, modify,
// delete), a 410 relist's diff, and observe(). The list comes from a stand-in request; the
// watch from a small HTTP server speaking the watch protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Informer } from '../../../src/operator/informer.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { defineResource } from '../../../src/operator/resource.ts';

const THINGS = defineResource({ group: 'example.com', version: 'v1', plural: 'things', kind: 'Thing', namespaced: true });
type Thing = KubernetesObject & { spec: { profile: string } };
const byProfile = (t: Thing) => [t.spec.profile];

function thing(name: string, profile: string, rv: string): Thing {
  return { apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name, namespace: 'n', uid: `uid-${name}`, resourceVersion: rv }, spec: { profile } };
}

const names = (objs: Thing[]) => objs.map((o) => o.metadata!.name!).sort();

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('indexes follow list, watch add/modify/delete, the relist after 410, and observe()', async (t) => {
  // Each watch request gets the next script; the last one stays open with nothing to say.
  const scripts: Array<Array<Record<string, unknown>>> = [
    [
      { type: 'ADDED', object: thing('c', 'p2', '11') },
      { type: 'MODIFIED', object: thing('a', 'p2', '12') },
      { type: 'DELETED', object: thing('b', 'p1', '13') },
    ],
    [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }],
  ];
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const script = scripts.shift();
    if (!script) return; // held open until the test ends
    for (const e of script) res.write(`${JSON.stringify(e)}\n`);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }, { name: 'u' });
  // First list: a and b under p1. The relist after the 410: a back under p1, c gone, d new.
  const lists = [[thing('a', 'p1', '5'), thing('b', 'p1', '6')], [thing('a', 'p1', '20'), thing('d', 'p3', '21')]];
  const clients = { kubeConfig: kc, request: async () => ({ metadata: { resourceVersion: '10' }, items: structuredClone(lists.shift() ?? []) }) } as unknown as KubeClients;

  const informer = new Informer<Thing>(clients, THINGS, { resyncPeriodMs: 0, backoff: { initialMs: 10, maxMs: 10 }, watchTimeoutSeconds: 60 });
  informer.addIndex('profile', byProfile);
  const seenInHandlers: string[][] = [];
  informer.on({ delete: () => seenInHandlers.push(names(informer.byIndex('profile', 'p1'))) });
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(5_000);
  assert.deepEqual(names(informer.byIndex('profile', 'p1')), ['a', 'b']);

  // Watch: c added under p2, a moved to p2, b deleted.
  await until(() => informer.get('n/b') === undefined, 'the watch events');
  assert.deepEqual(names(informer.byIndex('profile', 'p1')), []);
  assert.deepEqual(names(informer.byIndex('profile', 'p2')), ['a', 'c']);
  assert.deepEqual(seenInHandlers[0], [], 'a delete handler already reads the updated index');

  // 410 → relist: c vanished, d is new, a is back under p1.
  await until(() => informer.get('n/d') !== undefined, 'the relist');
  assert.deepEqual(names(informer.byIndex('profile', 'p1')), ['a']);
  assert.deepEqual(names(informer.byIndex('profile', 'p2')), []);
  assert.deepEqual(names(informer.byIndex('profile', 'p3')), ['d']);
  assert.deepEqual([...informer.indexKeys('profile', 'p3')], ['n/d']);

  // observe() of an own newer write refiles at once.
  informer.observe(thing('d', 'p1', '30'));
  assert.deepEqual(names(informer.byIndex('profile', 'p1')), ['a', 'd']);
  assert.deepEqual(names(informer.byIndex('profile', 'p3')), []);

  // An index added after sync files what is cached.
  const byName = (o: Thing) => [o.metadata!.name!];
  informer.addIndex('name', byName);
  assert.deepEqual(names(informer.byIndex('name', 'a')), ['a']);
});
