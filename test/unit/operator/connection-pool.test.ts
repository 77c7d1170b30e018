// Every request of a client set goes through the same connection pool (keep-alive), not a new
// one per request as client-node builds by default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { shareConnections } from '../../../src/operator/connection-pool.ts';

function kubeConfig(server: string, ca: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser({ name: 'c', server, caData: Buffer.from(ca).toString('base64'), skipTLSVerify: false }, { name: 'u', token: 't' });
  return kc;
}

async function dispatcherOf(kc: KubeConfig): Promise<unknown> {
  const ctx = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx.getDispatcher();
}

test('client-node alone builds a new pool per request; shared, one pool per configuration', async () => {
  const plain = kubeConfig('https://127.0.0.1:6443', 'CA ONE');
  assert.notEqual(await dispatcherOf(plain), await dispatcherOf(plain), 'the default this works around');
  const shared = kubeConfig('https://127.0.0.1:6443', 'CA ONE');
  shareConnections(shared);
  shareConnections(shared);
  const first = await dispatcherOf(shared);
  assert.ok(first);
  assert.equal(await dispatcherOf(shared), first);
  const other = kubeConfig('https://127.0.0.1:6443', 'CA TWO');
  shareConnections(other);
  assert.notEqual(await dispatcherOf(other), first, 'another TLS configuration, another pool');
});
