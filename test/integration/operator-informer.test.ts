// The informer against a real kube-apiserver: events, reconnects after real network failures
// and the 410 → relist path. Failures are produced with a TCP proxy between the informer and
// the API server (TLS passes through untouched): destroying its sockets is a reset connection,
// closing its listener is a refused one. Nothing about the API server is faked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { Informer } from '../../src/operator/informer.ts';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import type { KubeClients } from '../../src/operator/kube-clients.ts';
import { CONFIG_MAPS } from '../../src/operator/resource.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { adminKubeConfig } from '../support/integration-env.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const admin = createKubeClients(adminKubeConfig());
const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

async function eventually(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - started;
}

async function freshNamespace(): Promise<string> {
  const name = `op-inf-${randomBytes(3).toString('hex')}`;
  await admin.core.createNamespace({ body: { metadata: { name } } });
  return name;
}

async function deleteNamespace(name: string): Promise<void> {
  // Stays Terminating without a controller-manager; harmless, names are unique per run.
  await admin.core.deleteNamespace({ name }).catch(() => {});
}

function createCm(namespace: string, name: string, data: Record<string, string> = { v: '1' }): Promise<V1ConfigMap> {
  return admin.core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data } });
}

/** Records what an informer emits, in order. */
function recorder(informer: Informer) {
  const events: string[] = [];
  informer.on({
    add: (o) => events.push(`add ${o.metadata?.name}`),
    update: (o, old) => events.push(o === old ? `resync ${o.metadata?.name}` : `update ${o.metadata?.name}`),
    delete: (o) => events.push(`delete ${o.metadata?.name}`),
  });
  return events;
}

async function proxied(t: { after: (fn: () => Promise<void>) => void }): Promise<{ proxy: TcpProxy; clients: KubeClients }> {
  const proxy = new TcpProxy(adminKubeConfig());
  await proxy.listen();
  t.after(() => proxy.down());
  return { proxy, clients: createKubeClients(proxy.kubeConfig()) };
}

test('the informer lists, then sees add, update and delete of ConfigMaps', async (t) => {
  const ns = await freshNamespace();
  t.after(() => deleteNamespace(ns));
  await createCm(ns, 'before');
  const informer = new Informer<V1ConfigMap>(admin, CONFIG_MAPS, { namespace: ns, logger });
  const events = recorder(informer as Informer);
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(10_000);
  assert.ok(informer.hasSynced());
  // kube-root-ca.crt would come from the controller-manager, which this control plane lacks.
  assert.deepEqual(informer.keys().sort(), [`${ns}/before`]);
  assert.deepEqual(events, ['add before']);

  const cached = informer.get(`${ns}/before`);
  assert.equal(cached?.kind, 'ConfigMap', 'list items get apiVersion/kind');
  assert.equal(cached?.apiVersion, 'v1');
  assert.equal(cached?.metadata?.managedFields, undefined, 'managedFields are stripped');

  await createCm(ns, 'after');
  await eventually(() => events.includes('add after'), 10_000, 'add after');
  await admin.core.patchNamespacedConfigMap(
    { namespace: ns, name: 'after', body: [{ op: 'replace', path: '/data/v', value: '2' }] },
  );
  await eventually(() => informer.get(`${ns}/after`)?.data?.v === '2', 10_000, 'cache shows v=2');
  assert.equal(events.at(-1), 'update after');
  assert.equal(informer.get(`${ns}/after`)?.metadata?.managedFields, undefined);
  await admin.core.deleteNamespacedConfigMap({ namespace: ns, name: 'before' });
  await eventually(() => events.includes('delete before'), 10_000, 'delete before');
  assert.equal(informer.get(`${ns}/before`), undefined);
  assert.deepEqual(events, ['add before', 'add after', 'update after', 'delete before']);
  assert.ok(Number(informer.resourceVersion) > 0);
});

test('label selectors restrict the cache; resync re-delivers cached objects as updates', async (t) => {
  const ns = await freshNamespace();
  t.after(() => deleteNamespace(ns));
  await admin.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'mine', labels: { team: 'a' } } } });
  await admin.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'other', labels: { team: 'b' } } } });
  const informer = new Informer(admin, CONFIG_MAPS, { namespace: ns, labelSelector: 'team=a', resyncPeriodMs: 200, logger });
  const events = recorder(informer);
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(10_000);
  assert.deepEqual(informer.keys(), [`${ns}/mine`]);
  await eventually(() => events.filter((e) => e === 'resync mine').length >= 2, 5_000, 'two resyncs');
  assert.ok(!events.some((e) => e.includes('other')));
});

test('after the watch connection is reset, the informer re-watches and misses nothing', async (t) => {
  const ns = await freshNamespace();
  t.after(() => deleteNamespace(ns));
  const { proxy, clients } = await proxied(t);
  const informer = new Informer(clients, CONFIG_MAPS, { namespace: ns, logger, backoff: { initialMs: 100, maxMs: 1_000 } });
  const events = recorder(informer);
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(10_000);
  await createCm(ns, 'a');
  await eventually(() => events.includes('add a'), 10_000, 'add a');

  const before = proxy.connections;
  proxy.reset();
  await createCm(ns, 'b');
  const ms = await eventually(() => events.includes('add b'), 10_000, 'add b after reset');
  t.diagnostic(`event after a reset connection delivered in ${ms} ms`);
  assert.ok(proxy.connections > before, 'a new connection was made');
  assert.deepEqual(events, ['add a', 'add b'], 'no relist duplicates');
});

test('while the API server is unreachable the informer retries with backoff, then catches up from its resourceVersion', async (t) => {
  const ns = await freshNamespace();
  t.after(() => deleteNamespace(ns));
  const { proxy, clients } = await proxied(t);
  const informer = new Informer(clients, CONFIG_MAPS, { namespace: ns, logger, backoff: { initialMs: 100, maxMs: 400 } });
  const events = recorder(informer);
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(10_000);
  await createCm(ns, 'kept');
  await createCm(ns, 'doomed');
  await eventually(() => events.length === 2, 10_000, 'two adds');

  await proxy.down(); // connection refused from now on
  await createCm(ns, 'during-outage');
  await admin.core.deleteNamespacedConfigMap({ namespace: ns, name: 'doomed' });
  await new Promise((r) => setTimeout(r, 1_500)); // several refused attempts
  assert.deepEqual(events, ['add kept', 'add doomed'], 'nothing while unreachable');
  await proxy.listen(); // same port again
  await eventually(() => events.length === 4, 10_000, 'catch-up events');
  assert.deepEqual(events, ['add kept', 'add doomed', 'add during-outage', 'delete doomed']);
  assert.deepEqual(informer.keys().sort(), [`${ns}/during-outage`, `${ns}/kept`]);
});

test('a 410 from a too-old resourceVersion relists and diffs: deletes, updates and adds, no duplicate adds', async (t) => {
  const ns = await freshNamespace();
  t.after(() => deleteNamespace(ns));
  const { proxy, clients } = await proxied(t);
  const informer = new Informer(clients, CONFIG_MAPS, { namespace: ns, logger, backoff: { initialMs: 100, maxMs: 400 } });
  const events = recorder(informer);
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(10_000);
  for (const name of ['unchanged', 'changed', 'vanished']) await createCm(ns, name);
  await eventually(() => events.length === 3, 10_000, 'three adds');

  // Cut the informer off, change the world, and make it resume from RV "1", which the API
  // server has long compacted: its first watch back gets ERROR 410 Expired.
  await proxy.down();
  await admin.core.patchNamespacedConfigMap({ namespace: ns, name: 'changed', body: [{ op: 'replace', path: '/data/v', value: '2' }] });
  await admin.core.deleteNamespacedConfigMap({ namespace: ns, name: 'vanished' });
  await createCm(ns, 'new');
  informer.restartWatch('1');
  await proxy.listen();
  await eventually(() => events.length === 6, 10_000, 'relist events');
  await new Promise((r) => setTimeout(r, 300)); // nothing more may trickle in
  assert.deepEqual(events.slice(3).sort(), ['add new', 'delete vanished', 'update changed']);
  assert.equal(events.filter((e) => e === 'add unchanged').length, 1, 'no duplicate add for unchanged objects');
  assert.equal(informer.get(`${ns}/changed`)?.metadata?.resourceVersion !== undefined, true);
  assert.deepEqual(informer.keys().sort(), [`${ns}/changed`, `${ns}/new`, `${ns}/unchanged`]);

  // And it keeps watching normally afterwards.
  await createCm(ns, 'later');
  await eventually(() => events.includes('add later'), 10_000, 'add later');
});

test('a 410 on a live watch (ERROR event from the server) is detected as such', async (t) => {
  // Without a proxy: restartWatch('1') on a healthy connection. The server answers the new
  // watch with ERROR 410 Expired; the informer relists and, nothing having changed, emits nothing.
  const ns = await freshNamespace();
  t.after(() => deleteNamespace(ns));
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const informer = new Informer(admin, CONFIG_MAPS, { namespace: ns, logger: log });
  const events = recorder(informer);
  await createCm(ns, 'x');
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(10_000);
  informer.restartWatch('1');
  await eventually(() => lines.some((l) => /watch expired \(410\), relisting/.test(l)), 10_000, 'the 410 log line');
  await eventually(() => Number(informer.resourceVersion) > 1, 10_000, 'a fresh resourceVersion from the relist');
  assert.deepEqual(events, ['add x']);
});

test('stop() ends the watch: no events afterwards', async (t) => {
  const ns = await freshNamespace();
  t.after(() => deleteNamespace(ns));
  const informer = new Informer(admin, CONFIG_MAPS, { namespace: ns, logger });
  const events: KubernetesObject[] = [];
  informer.on({ add: (o) => events.push(o) });
  informer.start();
  await informer.waitForSync(10_000);
  const started = Date.now();
  await informer.stop();
  t.diagnostic(`stop took ${Date.now() - started} ms`);
  assert.ok(Date.now() - started < 2_000);
  await createCm(ns, 'unseen');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(events.length, 0);
});
