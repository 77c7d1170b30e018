import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { TokenStore, mintToken, needsToken, tokenAction, tokenSecretFor, tokenSecretName } from '../../../src/gateway/tokens.ts';
import { gatewayEnvVars, gatewayRootUrl, proxyEnvVars } from '../../../src/gateway/injection.ts';
import { TOKEN_PATTERN, TOKEN_PREFIX } from '../../../src/gateway/token-format.ts';
import { credentialHeaders, probeEndpoint, servesPath, upstreamOf, upstreamPath } from '../../../src/gateway/provider.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { startOpenAiTestServer } from '../../support/openai-test-server.ts';
import { FakeInformer, execution } from './fixtures.ts';

test('tokens: amx_ + 32 random bytes base64url, unique; the Secret is owned by the execution and labelled', () => {
  const a = mintToken();
  const b = mintToken();
  assert.ok(a.startsWith(TOKEN_PREFIX));
  assert.match(a, TOKEN_PATTERN);
  assert.equal(Buffer.from(a.slice(4), 'base64url').length, 32);
  assert.notEqual(a, b);
  const ex = execution();
  const s = tokenSecretFor(ex, a);
  assert.equal(s.metadata!.name, 'run-gateway-token');
  assert.equal(s.metadata!.ownerReferences![0]!.uid, 'e-run');
  assert.equal(Buffer.from(s.data!.token!, 'base64').toString(), a);
  assert.ok(tokenSecretName('x'.repeat(253)).length <= 253);
  assert.equal(needsToken(execution({ modelProviderRef: undefined })), false);
  assert.equal(needsToken(execution({ modelProviderRef: undefined, tools: ['mcp.x'] })), true);
  // The egress proxy takes allowlist and open containers somewhere: they need a token to present.
  for (const mode of ['allowlist', 'open'] as const) assert.equal(needsToken(execution({ modelProviderRef: undefined }), mode), true, mode);
  for (const mode of ['none', 'gateway-only'] as const) assert.equal(needsToken(execution({ modelProviderRef: undefined }), mode), false, mode);
  assert.equal(tokenAction(execution({ modelProviderRef: undefined }, { phase: 'Running' }), 'allowlist'), 'ensure');
});

test('a token only for an admitted, running execution: none while it waits, revoked when it ends', () => {
  type Phase = NonNullable<NonNullable<ReturnType<typeof execution>['status']>['phase']>;
  const withPhase = (phase: Phase | undefined) => ({ ...execution(), status: phase ? { phase } : {} });
  // Not admitted yet (held for its profile, Pending, Queued): no credential exists for it.
  assert.equal(tokenAction(withPhase(undefined)), 'wait');
  assert.equal(tokenAction(withPhase('Pending')), 'wait');
  assert.equal(tokenAction(withPhase('Queued')), 'wait');
  assert.equal(tokenAction(withPhase('Running')), 'ensure');
  assert.equal(tokenAction(withPhase('Retrying')), 'ensure');
  for (const phase of ['Denied', 'Succeeded', 'Failed', 'Cancelled'] as const) assert.equal(tokenAction(withPhase(phase)), 'revoke', phase);
  assert.equal(tokenAction({ ...withPhase('Running'), metadata: { ...execution().metadata, deletionTimestamp: new Date() } }), 'revoke');
  assert.equal(tokenAction(execution({ modelProviderRef: undefined }, { phase: 'Running' })), 'revoke');
});

test('the token store indexes Secrets, resolves by hash, and forgets deleted ones', () => {
  const secrets = FakeInformer.of<V1Secret>();
  const store = new TokenStore({} as KubeClients, secrets);
  const token = mintToken();
  const secret = tokenSecretFor(execution(), token);
  secrets.set(secret);
  assert.deepEqual(store.resolve(token), { namespace: 'ns', execution: 'run', executionUid: 'e-run' });
  assert.equal(store.resolve(mintToken()), undefined);
  assert.equal(store.resolve(`${token}x`), undefined);
  // A replaced token (new data) no longer resolves the old one.
  const next = mintToken();
  secrets.set(tokenSecretFor(execution(), next));
  assert.equal(store.resolve(token), undefined);
  assert.ok(store.resolve(next));
  secrets.remove(secret);
  assert.equal(store.resolve(next), undefined);
  assert.equal(store.revokedIdentity(next)?.execution, 'run', 'remembered as revoked, for a clear 401');
  assert.equal(store.revokedIdentity(mintToken()), undefined);
});

test('the token store mints once for concurrent callers and reuses the cached Secret', async () => {
  const secrets = FakeInformer.of<V1Secret>();
  let posts = 0;
  const clients = {
    request: async (opts: any) => {
      posts++;
      await new Promise((r) => setTimeout(r, 10));
      return { ...opts.body, metadata: { ...opts.body.metadata, uid: 'sec-1' } };
    },
  } as unknown as KubeClients;
  const store = new TokenStore(clients, secrets);
  const [a, b] = await Promise.all([store.ensure(execution()), store.ensure(execution())]);
  assert.equal(a, b);
  assert.equal(posts, 1);
  assert.ok(store.resolve(a), 'usable before any watch event');
});

test('gateway URL per runtime and network; env names', () => {
  const a = { port: 8081, gatewayNetwork: 'am-gw' };
  assert.equal(gatewayRootUrl(a, { runtime: 'docker', networkMode: 'gateway-only' }), 'http://agent-machine-gateway:8081');
  assert.equal(gatewayRootUrl({ port: 8081 }, { runtime: 'docker', networkMode: 'gateway-only' }), undefined, 'no gateway network: unreachable');
  assert.equal(gatewayRootUrl(a, { runtime: 'docker', networkMode: 'open' }), 'http://host.containers.internal:8081');
  assert.equal(gatewayRootUrl(a, { runtime: 'docker', networkMode: 'none' }), 'http://agent-machine-gateway:8081', 'airgapped: the gateway, for local models');
  assert.equal(gatewayRootUrl({ port: 8081 }, { runtime: 'docker', networkMode: 'none' }), undefined);
  assert.equal(gatewayRootUrl(a, { runtime: 'kubernetes', networkMode: 'gateway-only' }), undefined);
  assert.equal(gatewayRootUrl({ ...a, advertiseUrl: 'http://gw.agent-machine-system.svc:8081/' }, { runtime: 'kubernetes', networkMode: 'gateway-only' }), 'http://gw.agent-machine-system.svc:8081');
  const proxy = 'http://agent:amx_t@g:1';
  assert.deepEqual(gatewayEnvVars('http://g:1', 'amx_t', { model: true, anthropic: false }), {
    AGENT_MACHINE_GATEWAY_TOKEN: 'amx_t',
    AGENT_MACHINE_GATEWAY_URL: 'http://g:1',
    OPENAI_API_KEY: 'amx_t',
    OPENAI_BASE_URL: 'http://g:1/v1',
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    NO_PROXY: 'g,localhost,127.0.0.1,::1',
    no_proxy: 'g,localhost,127.0.0.1,::1',
  });
  // Unreachable gateway: no URL, no proxy (nothing would answer).
  assert.deepEqual(Object.keys(gatewayEnvVars(undefined, 'amx_t', { model: false, anthropic: false })), ['AGENT_MACHINE_GATEWAY_TOKEN']);
  assert.equal(proxyEnvVars('http://[fd00::1]:8081', 'amx_t').NO_PROXY, 'fd00::1,localhost,127.0.0.1,::1');
  assert.equal(gatewayEnvVars('http://g:1', 'amx_t', { model: true, anthropic: true }).ANTHROPIC_BASE_URL, 'http://g:1');
  assert.equal(gatewayEnvVars('http://g:1', 'amx_t', { model: false, anthropic: false }).OPENAI_API_KEY, undefined);
});

test('provider paths and credential headers', () => {
  assert.equal(upstreamPath(upstreamOf('https://api.openai.com/v1'), '/v1/chat/completions'), '/v1/chat/completions');
  assert.equal(upstreamPath(upstreamOf('http://127.0.0.1:11434'), '/v1/embeddings'), '/v1/embeddings');
  assert.equal(upstreamPath(upstreamOf('https://proxy.corp/llm/v1/'), '/v1/models'), '/llm/v1/models');
  assert.deepEqual(credentialHeaders('openai-compatible', 'k'), { authorization: 'Bearer k' });
  assert.deepEqual(credentialHeaders('anthropic', 'k'), { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' });
  assert.deepEqual(credentialHeaders('ollama', undefined), {});
  assert.equal(servesPath('anthropic', '/v1/messages'), true);
  assert.equal(servesPath('anthropic', '/v1/chat/completions'), false);
  assert.equal(servesPath('ollama', '/v1/chat/completions'), true);
});

test('probe: models served, model missing, credential refused, nothing listening; never the key in a message', async () => {
  const key = 'sk-probe-secret-value-123';
  const s = await startOpenAiTestServer({ apiKey: key, models: ['m1', 'llama3:latest'] });
  try {
    const ok = await probeEndpoint({ provider: 'openai-compatible', endpoint: s.url, model: 'm1' }, key);
    assert.deepEqual([ok.reachable, ok.modelAvailable, ok.models], [true, true, ['m1', 'llama3:latest']]);
    assert.equal(s.requests.at(-1)!.authorization, `Bearer ${key}`);
    const missing = await probeEndpoint({ provider: 'openai-compatible', endpoint: `${s.url}/v1`, model: 'm2' }, key);
    assert.deepEqual([missing.reachable, missing.modelAvailable], [true, false]);
    const ollama = await probeEndpoint({ provider: 'ollama', endpoint: s.url, model: 'llama3' }, key);
    assert.equal(s.requests.at(-1)!.path, '/api/tags');
    assert.deepEqual([ollama.reachable, ollama.modelAvailable], [true, true]);
    const refused = await probeEndpoint({ provider: 'openai-compatible', endpoint: s.url, model: 'm1' }, 'sk-wrong');
    assert.deepEqual([refused.reachable, refused.reason], [false, 'CredentialRejected']);
    for (const r of [ok, missing, ollama, refused]) assert.ok(!r.message.includes(key) && !r.message.includes('sk-wrong'));
  } finally {
    await s.close();
  }
  const down = await probeEndpoint({ provider: 'openai-compatible', endpoint: s.url, model: 'm1' }, key, { timeoutMs: 2_000 });
  assert.deepEqual([down.reachable, down.reason], [false, 'ConnectionFailed']);
  assert.match(down.message, /ECONNREFUSED/);
});
