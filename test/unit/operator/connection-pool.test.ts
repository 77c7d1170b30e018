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

test('the pool key follows every option: CA, certificate and key bytes, proxy, TLS flags', async () => {
  const { optionsKey } = await import('../../../src/operator/connection-pool.ts');
  const base = { type: 'agent', connect: { ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY'), keepAlive: true, keepAliveInitialDelay: 30000 } };
  const same = { type: 'agent', connect: { ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY'), keepAlive: true, keepAliveInitialDelay: 30000 } };
  assert.equal(optionsKey(base), optionsKey(same), 'equal options, equal key (new Buffers every request)');
  const variants = [
    { ...base, connect: { ...base.connect, cert: Buffer.from('CERT2') } },
    { ...base, connect: { ...base.connect, key: Buffer.from('KEY2') } },
    { ...base, connect: { ...base.connect, ca: Buffer.from('CB') } },
    { ...base, connect: { ...base.connect, rejectUnauthorized: false } },
    { ...base, connect: { ...base.connect, servername: 'x' } },
    { type: 'proxy', uri: 'http://proxy:3128', requestTls: base.connect },
    { type: 'none' },
  ];
  const keys = new Set([optionsKey(base), ...variants.map(optionsKey)]);
  assert.equal(keys.size, variants.length + 1, 'each differing option is a different pool');
  // Bytes are not confused with strings of the same text.
  assert.notEqual(optionsKey({ ca: Buffer.from('x') }), optionsKey({ ca: 'x' }));
});
