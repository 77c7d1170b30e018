// The informer against a stand-in list (the watch has nowhere to connect, so only the list and
// observe() shape the cache): what it keeps of listed objects, and observe() (read-your-writes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Informer } from '../../../src/operator/informer.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { defineResource, SECRETS } from '../../../src/operator/resource.ts';
import { LAST_APPLIED_ANNOTATION, sharedStrings } from '../../../src/operator/compact-object.ts';

const THINGS = defineResource({ group: 'example.com', version: 'v1', plural: 'things', kind: 'Thing', namespaced: true });
const thing = (rv: string, phase: string, uid = 'u1'): KubernetesObject & { status: { phase: string } } => ({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 't', namespace: 'n', uid, resourceVersion: rv }, status: { phase } });

function listing(items: unknown[]): KubeClients {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }, { name: 'u' });
  // A fresh parse per request, as from the wire.
  return { kubeConfig: kc, request: async () => JSON.parse(JSON.stringify({ metadata: { resourceVersion: '10' }, items })) } as unknown as KubeClients;
}

async function synced<T extends KubernetesObject>(informer: Informer<T>): Promise<Informer<T>> {
  informer.start();
  await informer.waitForSync(5_000);
  await informer.stop();
  return informer;
}

test('cached objects lack managedFields and the last-applied annotation, and keep the rest', async () => {
  const informer = await synced(
    new Informer(
      listing([
        {
          apiVersion: 'example.com/v1',
          kind: 'Thing',
          metadata: { name: 't', namespace: 'n', uid: 'u1', resourceVersion: '5', annotations: { [LAST_APPLIED_ANNOTATION]: '{"spec":{}}', keep: 'me' }, managedFields: [{ manager: 'kubectl' }] },
          spec: { size: 3 },
        },
      ]),
      THINGS,
      { resyncPeriodMs: 0, backoff: { initialMs: 10_000, maxMs: 10_000 } },
    ),
  );
  assert.deepEqual(informer.get('n/t'), {
    apiVersion: 'example.com/v1',
    kind: 'Thing',
    metadata: { name: 't', namespace: 'n', uid: 'u1', resourceVersion: '5', annotations: { keep: 'me' } },
    spec: { size: 3 },
  });
});

test('Secret values never enter the shared string table; other kinds do', async () => {
  const secret = { metadata: { name: 's', namespace: 'n', uid: 'u2', resourceVersion: '6' }, type: 'Opaque', data: { token: Buffer.from('not-a-real-token').toString('base64') } };
  const before = sharedStrings.size;
  const secrets = await synced(new Informer(listing([secret]), SECRETS, { resyncPeriodMs: 0, backoff: { initialMs: 10_000, maxMs: 10_000 } }));
  assert.equal((secrets.get('n/s') as unknown as typeof secret).data.token, secret.data.token);
  assert.equal(sharedStrings.size, before, 'nothing of the Secret was remembered');
  await synced(new Informer(listing([{ ...secret, kind: 'Thing' }]), THINGS, { resyncPeriodMs: 0, backoff: { initialMs: 10_000, maxMs: 10_000 } }));
  assert.ok(sharedStrings.size > before, 'the same object as another kind is interned');
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

test('the watch\'s echo of an observed write is not handed to the handlers again; a newer version is', async (t) => {
  // A real HTTP API server stand-in: the list, then a watch stream the test writes events into.
  const { createServer } = await import('node:http');
  let stream: import('node:http').ServerResponse | undefined;
  let watched!: () => void;
  const watching = new Promise<void>((r) => (watched = r));
  const server = createServer((req, res) => {
    if (new URL(req.url!, 'http://x').searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      stream = res;
      watched();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ metadata: { resourceVersion: '5' }, items: [thing('5', 'Queued')] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    stream?.end();
    server.closeAllConnections();
    server.close();
  });
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'c', server: `http://127.0.0.1:${(server.address() as { port: number }).port}`, skipTLSVerify: true }, { name: 'u' });
  const clients = { kubeConfig: kc, request: async (o: { path: string }) => JSON.parse(await (await fetch(`${kc.getCurrentCluster()!.server}${o.path}`)).text()) } as unknown as KubeClients;
  const informer = new Informer(clients, THINGS, { resyncPeriodMs: 0, backoff: { initialMs: 10_000, maxMs: 10_000 } });
  const events: string[] = [];
  informer.on({ add: (o) => events.push(`add ${o.metadata!.resourceVersion}`), update: (o) => events.push(`update ${o.metadata!.resourceVersion}`) });
  informer.start();
  t.after(() => informer.stop());
  await informer.waitForSync(5_000);
  await watching;

  informer.observe(thing('7', 'Running'));
  const send = async (type: string, obj: unknown): Promise<void> => {
    stream!.write(`${JSON.stringify({ type, object: obj })}\n`);
    await new Promise((r) => setTimeout(r, 100));
  };
  await send('MODIFIED', thing('7', 'Running'));
  await send('MODIFIED', thing('6', 'Queued'));
  await send('MODIFIED', thing('8', 'Succeeded'));
  assert.deepEqual(events, ['add 5', 'update 7', 'update 8'], 'the echo (7) and the older version (6) are dropped');
  assert.equal((informer.get('n/t') as ReturnType<typeof thing>).status.phase, 'Succeeded');
});
