// The gateway's HTTP path against the OpenAI-compatible test server, with informer caches fed
// by the test (no API server: the end-to-end path is test/integration/gateway.test.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import { GatewayServer } from '../../../src/gateway/server.ts';
import { mintToken, tokenSecretFor } from '../../../src/gateway/tokens.ts';
import { CredentialCache } from '../../../src/gateway/credentials.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../support/openai-test-server.ts';
import { binding, execution, grant, profile, gatewayCaches } from './fixtures.ts';
import type { LocalAgentExecution } from '../../../src/api/types.generated.ts';

// The CEL worker this file's gateways evaluate profile rules on: the test file owns it.
const celSandbox = new CelSandbox();

const UPSTREAM_KEY = 'sk-upstream-unit-0123456789abcdef';
let upstream: OpenAiTestServer;
let server: GatewayServer;
let url = '';
const patches: any[] = [];
const clients = {
  core: { readNamespacedSecret: async () => ({ data: { apiKey: Buffer.from(UPSTREAM_KEY).toString('base64') } }) },
  request: async (opts: any) => {
    patches.push(opts);
    return {};
  },
} as unknown as KubeClients;

const { executions, bindings, profiles, grants, secrets, tokens, ledger, authority } = gatewayCaches(clients);

/** A running execution with its token; returns the token. */
function admit(name: string, budget: Record<string, number> = {}, spec: Partial<LocalAgentExecution['spec']> = {}): string {
  const ex = execution(spec, { budget: { effective: { ...execution().status!.budget!.effective!, ...budget } as any } }, name);
  executions.set(ex);
  const token = mintToken();
  const secret = tokenSecretFor(ex, token);
  secret.metadata!.uid = `s-${name}`;
  secrets.set(secret);
  return token;
}

async function call(path: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

const chat = (content = 'hello there', extra: object = {}) => ({ model: 'test-model', messages: [{ role: 'user', content }], ...extra });

before(async () => {
  upstream = await startOpenAiTestServer({ apiKey: UPSTREAM_KEY });
  bindings.set(binding({ endpoint: upstream.url, credentialsSecretRef: { name: 'llm-key', key: 'apiKey' } }));
  server = new GatewayServer({ tokens, informers: { executions, bindings, profiles, grants }, credentials: new CredentialCache(clients), ledger, celSandbox, authority, logger: silentLogger() });
  url = (await server.listen('127.0.0.1', 0)).url;
  server.setActive(true);
});

after(async () => {
  celSandbox.close();
  await server.close();
  await upstream.close();
});

test('inactive (standby) answers 503; /healthz needs no token', async () => {
  const token = admit('standby');
  server.setActive(false);
  assert.equal((await call('/v1/models', token)).status, 503);
  server.setActive(true);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
});

test('a chat completion is forwarded with the upstream credential, and its usage counted', async () => {
  const token = admit('chat');
  const r = await call('/v1/chat/completions', token, chat('what is the weather like'));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.object, 'chat.completion');
  assert.match(r.json.choices[0].message.content, /You said: what is the weather like/);
  const seen = upstream.requests.at(-1)!;
  assert.equal(seen.authorization, `Bearer ${UPSTREAM_KEY}`, 'the provider sees the binding credential, not the agent token');
  assert.ok(!JSON.stringify(upstream.requests).includes(token), 'the agent token never reaches the provider');
  assert.deepEqual(ledger.usage(executions.get('ns/chat')!), { modelCalls: 1, tokens: r.json.usage.total_tokens, connectorCalls: 0 });
  assert.ok(!r.text.includes(UPSTREAM_KEY));
});

test('model: omitted → the binding model; another model → 400; /v1/models lists the binding model', async () => {
  const token = admit('model');
  const r = await call('/v1/chat/completions', token, { messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(upstream.requests.at(-1)!.body.model, 'test-model');
  const other = await call('/v1/chat/completions', token, chat('hi', { model: 'gpt-4o' }));
  assert.equal(other.status, 400);
  assert.equal(other.json.error.code, 'model_not_allowed');
  const models = await call('/v1/models', token);
  assert.deepEqual(models.json.data.map((m: any) => m.id), ['test-model']);
  assert.deepEqual(ledger.usage(executions.get('ns/model')!).modelCalls, 1, 'refused and local calls are not counted');
});

test('streaming: include_usage added for the count, the usage chunk stripped unless the client asked', async () => {
  const token = admit('stream');
  const r = await call('/v1/chat/completions', token, chat('stream me a reply', { stream: true }));
  assert.equal(r.status, 200);
  assert.equal(upstream.requests.at(-1)!.body.stream_options.include_usage, true);
  const events = r.text.split('\n\n').filter((e) => e.startsWith('data: {'));
  assert.ok(events.length > 3);
  assert.ok(!r.text.includes('"usage"'), 'no usage chunk the client did not ask for');
  assert.ok(r.text.trimEnd().endsWith('data: [DONE]'));
  const first = ledger.usage(executions.get('ns/stream')!);
  assert.equal(first.modelCalls, 1);
  assert.ok(first.tokens > 0);

  const asked = await call('/v1/chat/completions', token, chat('stream me a reply', { stream: true, stream_options: { include_usage: true } }));
  const usageEvent = asked.text.split('\n\n').find((e) => e.includes('"usage"'));
  assert.ok(usageEvent, 'the client asked for usage: it gets it');
  const usage = JSON.parse(usageEvent!.slice(6)).usage;
  assert.equal(usage.total_tokens, first.tokens, 'same prompt, same count');
  assert.deepEqual(ledger.usage(executions.get('ns/stream')!), { modelCalls: 2, tokens: 2 * first.tokens, connectorCalls: 0 });
});

test('completions and embeddings are forwarded and counted', async () => {
  const token = admit('other-routes', { modelCalls: 10, tokens: 1000 });
  const c = await call('/v1/completions', token, { model: 'test-model', prompt: 'once upon a time' });
  assert.equal(c.status, 200, c.text);
  const e = await call('/v1/embeddings', token, { model: 'test-model', input: ['alpha beta', 'gamma'] });
  assert.equal(e.status, 200, e.text);
  assert.equal(e.json.data.length, 2);
  assert.deepEqual(ledger.usage(executions.get('ns/other-routes')!), { modelCalls: 2, tokens: c.json.usage.total_tokens + e.json.usage.total_tokens, connectorCalls: 0 });
  assert.equal((await call('/v1/messages', token, { model: 'test-model', messages: [] })).status, 404, 'an OpenAI binding does not serve /v1/messages');
});

test('401: no token, a wrong token, a token whose execution finished or was replaced', async () => {
  const token = admit('auth');
  assert.equal((await call('/v1/models', undefined)).status, 401);
  const wrong = await call('/v1/models', mintToken());
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error.code, 'invalid_token');
  assert.equal((await call('/v1/models', 'sk-not-even-ours')).status, 401);
  executions.set(execution({}, { phase: 'Succeeded' }, 'auth'));
  const done = await call('/v1/chat/completions', token, chat());
  assert.equal(done.status, 401);
  assert.equal(done.json.error.code, 'token_expired');
  // Same name, new execution: the old token does not carry over.
  const again = execution({}, {}, 'auth');
  again.metadata.uid = 'e-auth-2';
  executions.set(again);
  assert.equal((await call('/v1/chat/completions', token, chat())).status, 401);
});

test('429 past modelCalls, exactly the budget forwarded under 12 concurrent calls', async () => {
  const token = admit('budget', { modelCalls: 3, tokens: 100_000 });
  const before = upstream.requests.length;
  const results = await Promise.all(Array.from({ length: 12 }, () => call('/v1/chat/completions', token, chat('hi'))));
  const codes = results.map((r) => r.status).sort();
  assert.deepEqual(codes, [200, 200, 200, ...Array(9).fill(429)]);
  const refused = results.find((r) => r.status === 429)!;
  assert.equal(refused.json.error.code, 'budget_exceeded');
  assert.equal(refused.json.error.dimension, 'modelCalls');
  assert.equal(upstream.requests.length - before, 3);
});

test('tokens budget: completions are capped to what is left, concurrent calls never cross it, and a call whose prompt cannot fit is a 429', async () => {
  const limit = 300;
  const token = admit('tokens', { modelCalls: 100, tokens: limit });
  const first = await call('/v1/chat/completions', token, chat());
  assert.equal(first.status, 200);
  const cap = upstream.requests.at(-1)!.body.max_tokens;
  assert.ok(typeof cap === 'number' && cap > 0 && cap < limit, `max_tokens added in the tail of the budget: ${cap}`);
  // 16 at once: each holds its allowance, so together they stay within the budget.
  const burst = await Promise.all(Array.from({ length: 16 }, () => call('/v1/chat/completions', token, chat('a longer prompt that asks for a long answer please'))));
  assert.ok(burst.some((r) => r.status === 429), 'some calls found the budget held');
  for (const r of burst.filter((x) => x.status === 429)) assert.equal(r.json.error.dimension, 'tokens');
  const used = ledger.usage(executions.get('ns/tokens')!).tokens;
  assert.ok(used <= limit, `used ${used} of ${limit}`);
  const tiny = admit('tiny-tokens', { modelCalls: 100, tokens: 5 });
  const refused = await call('/v1/chat/completions', tiny, chat('a fairly long prompt that cannot fit in five tokens'));
  assert.equal(refused.status, 429);
  assert.equal(refused.json.error.dimension, 'tokens');
  assert.match(refused.json.error.message, /needs about \d+ and 5 of 5 are left/);
});

test('the provider refusing the credential is a 502 that shows no key', async () => {
  const token = admit('badkey', {}, { modelProviderRef: { name: 'badkey' } });
  const credentials = new CredentialCache({ core: { readNamespacedSecret: async () => ({ data: { apiKey: Buffer.from('sk-wrong-key-123456').toString('base64') } }) } } as unknown as KubeClients);
  const s = new GatewayServer({ tokens, informers: { executions, bindings, profiles, grants }, credentials, ledger, celSandbox, authority, logger: silentLogger() });
  const u = (await s.listen('127.0.0.1', 0)).url;
  s.setActive(true);
  bindings.set(binding({ endpoint: upstream.url, credentialsSecretRef: { name: 'bad', key: 'apiKey' } }, {}, 'badkey'));
  try {
    const res = await fetch(`${u}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(chat()) });
    const text = await res.text();
    assert.equal(res.status, 502);
    assert.match(text, /upstream_auth_failed/);
    assert.ok(!text.includes('sk-wrong-key') && !text.includes(UPSTREAM_KEY));
    assert.equal(ledger.usage(executions.get('ns/badkey')!).modelCalls, 0);
  } finally {
    await s.close();
  }
});

test('an Anthropic binding: /v1/messages with x-api-key, credential as x-api-key upstream, usage counted (JSON and stream)', async () => {
  const token = admit('claude', { modelCalls: 10, tokens: 10_000 }, { modelProviderRef: { name: 'claude' } });
  bindings.set(binding({ provider: 'anthropic', endpoint: upstream.url, credentialsSecretRef: { name: 'llm-key', key: 'apiKey' } }, {}, 'claude'));
  const msg = { model: 'test-model', max_tokens: 64, messages: [{ role: 'user', content: 'hello claude' }] };
  const r = await call('/v1/messages', undefined, msg, { 'x-api-key': token, 'anthropic-version': '2023-06-01' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.type, 'message');
  const seen = upstream.requests.at(-1)!;
  assert.equal(seen.apiKey, UPSTREAM_KEY);
  assert.equal(seen.authorization, undefined);
  const jsonTokens = r.json.usage.input_tokens + r.json.usage.output_tokens;
  const st = await call('/v1/messages', undefined, { ...msg, stream: true }, { 'x-api-key': token });
  assert.equal(st.status, 200);
  assert.match(st.text, /event: message_delta/);
  assert.deepEqual(ledger.usage(executions.get('ns/claude')!), { modelCalls: 2, tokens: 2 * jsonTokens, connectorCalls: 0 });
  assert.equal((await call('/v1/chat/completions', token, chat())).status, 404, 'an Anthropic binding serves /v1/messages only');
});

test('a binding that is not Ready: 503; Denied: 403', async () => {
  const token = admit('notready', {}, { modelProviderRef: { name: 'down' } });
  bindings.set(binding({ endpoint: upstream.url }, { phase: 'Unreachable', conditions: [{ type: 'Ready', status: 'False', reason: 'ConnectionFailed', message: 'down', lastTransitionTime: '2026-01-01T00:00:00Z' }] }, 'down'));
  assert.equal((await call('/v1/chat/completions', token, chat())).status, 503);
  bindings.set(binding({ endpoint: upstream.url }, { phase: 'Denied' }, 'down'));
  assert.equal((await call('/v1/chat/completions', token, chat())).status, 403);
});

test('tool decisions: allowed under an Active grant, denied for other actions, once revoked, past connectorCalls', async () => {
  const token = admit('tools', { connectorCalls: 3 }, { modelProviderRef: undefined, tools: ['mcp.github/create_issue'] });
  grants.set(grant({ actions: ['create', 'read'] }, 'Active', 'gh'));
  const ok = await call('/v1/tools/authorize', token, { tool: 'mcp.github/create_issue', action: 'create' });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual([ok.json.allowed, ok.json.grant], [true, 'gh']);
  const other = await call('/v1/tools/authorize', token, { tool: 'mcp.github/create_issue', action: 'delete' });
  assert.equal(other.status, 403);
  assert.deepEqual([other.json.allowed, other.json.reason], [false, 'action_not_granted']);
  // Revoked in the spec: the very next call is denied, before the grant reconciler wrote status,
  // as lost authority (the execution was admitted with this tool), and audited.
  grants.set(grant({ actions: ['create', 'read'], revoked: true }, 'Active', 'gh'));
  const revoked = await call('/v1/tools/authorize', token, { tool: 'mcp.github/create_issue', action: 'create' });
  assert.equal(revoked.status, 403);
  assert.equal(revoked.json.reason, 'authority_lost');
  assert.match(revoked.json.message, /gh revoked/);
  const audit = authority.audited.at(-1)!;
  assert.deepEqual([audit.name, audit.command.reason, audit.command.outcome], ['tools', 'AuthorityLost', 'denied']);
  // A tool the execution was not admitted with never had a grant: not a loss.
  grants.set(grant({ tool: 'mcp.slack/post' }, 'Revoked' as any, 'slack'));
  const never = await call('/v1/tools/authorize', token, { tool: 'mcp.slack/post' });
  assert.equal(never.json.reason, 'no_active_grant');
  grants.set(grant({}, 'Active', 'gh2'));
  assert.equal((await call('/v1/tools/authorize', token, { tool: 'mcp.github/create_issue', action: 'read' })).status, 200);
  assert.equal((await call('/v1/tools/authorize', token, { tool: 'mcp.github/create_issue', action: 'read' })).status, 200);
  const over = await call('/v1/tools/authorize', token, { tool: 'mcp.github/create_issue', action: 'read' });
  assert.equal(over.status, 429);
  assert.deepEqual([over.json.allowed, over.json.dimension], [false, 'connectorCalls']);
  assert.equal(ledger.usage(executions.get('ns/tools')!).connectorCalls, 3);
  // No model binding: model routes are refused.
  assert.equal((await call('/v1/chat/completions', token, chat())).status, 403);
});

test('RBAC removed from the delegator: the next model and tool calls are refused as authority_lost and audited', async () => {
  const token = admit('rbac', {}, { tools: ['mcp.github/create_issue'] });
  grants.set(grant({}, 'Active', 'gh-rbac'));
  assert.equal((await call('/v1/chat/completions', token, chat())).status, 200);
  authority.answer = 'deny';
  try {
    const before = authority.audited.length;
    const model = await call('/v1/chat/completions', token, chat());
    assert.equal(model.status, 403);
    assert.equal(model.json.error.code, 'authority_lost');
    assert.match(model.json.error.message, /RBAC no longer allows it \(PermissionDenied\)/);
    const tool = await call('/v1/tools/authorize', token, { tool: 'mcp.github/create_issue' });
    assert.deepEqual([tool.status, tool.json.reason], [403, 'authority_lost']);
    assert.deepEqual(authority.audited.slice(before).map((a) => [a.name, a.command.reason]), [['rbac', 'AuthorityLost'], ['rbac', 'AuthorityLost']]);
    assert.equal(ledger.usage(executions.get('ns/rbac')!).connectorCalls, 0);
  } finally {
    authority.answer = 'allow';
  }
});

test('a deleted binding refuses a running execution\'s next model call as authority_lost', async () => {
  const token = admit('nobinding', {}, { modelProviderRef: { name: 'gone' } });
  const res = await call('/v1/chat/completions', token, chat());
  assert.deepEqual([res.status, res.json.error.code], [403, 'authority_lost']);
  assert.match(res.json.error.message, /ModelProviderBinding gone was deleted/);
});

test('usage reaches status as one merge patch per execution, only the gateway dimensions', async () => {
  patches.length = 0;
  await ledger.flush();
  const chatPatch = patches.find((p) => p.path.endsWith('/localagentexecutions/chat/status'));
  assert.ok(chatPatch, JSON.stringify(patches.map((p) => p.path)));
  assert.equal(chatPatch.method, 'PATCH');
  assert.deepEqual(Object.keys(chatPatch.body.status.budget.used).sort(), ['connectorCalls', 'modelCalls', 'tokens']);
  assert.equal(new Set(patches.map((p) => p.path)).size, patches.length, 'one write per execution');
  patches.length = 0;
  await ledger.flush();
  assert.equal(patches.length, 0, 'nothing new, nothing written');
});

test("the delegator's RBAC and tenant are asked again on every call: grant on the tool, use on the binding; denied → 403, no answer → 503, nothing forwarded or counted", async () => {
  const token = admit('rbac-each', {}, { tools: ['mcp.github/create_issue'] });
  grants.set(grant({}, 'Active', 'rbac-each-grant'));
  const tool = (name = 'mcp.github/create_issue') => call('/v1/tools/authorize', token, { tool: name, action: 'read' });
  const forwarded = () => upstream.requests.length;
  const asked = () => authority.asked.at(-1)!.permissions.map((p) => `${p.verb} ${p.resource}/${p.name}`);
  try {
    assert.equal((await tool()).status, 200);
    assert.deepEqual(asked(), ['use agentmachineprofiles/local', 'grant tools/mcp.github/create_issue']);
    assert.deepEqual(authority.asked.at(-1)!.tenancy, { namespace: 'ns', tenant: undefined }, "the namespace's tenant is checked too");
    assert.equal((await call('/v1/chat/completions', token, chat())).status, 200);
    assert.deepEqual(asked(), ['use agentmachineprofiles/local', 'use modelproviderbindings/llm']);

    authority.answer = 'deny';
    const before = { upstream: forwarded(), connectorCalls: ledger.usage(executions.get('ns/rbac-each')!).connectorCalls };
    // Admitted with it: the tool's RBAC gone is lost authority.
    const deniedTool = await tool();
    assert.equal(deniedTool.status, 403);
    assert.deepEqual([deniedTool.json.allowed, deniedTool.json.reason], [false, 'authority_lost']);
    assert.match(deniedTool.json.message, /user "alice" may not grant tools "mcp\.github\/create_issue"/);
    // Not admitted with it: a plain refusal, named by its reason.
    grants.set(grant({ tool: 'mcp.slack/post' }, 'Active', 'rbac-each-slack'));
    assert.deepEqual([(await tool('mcp.slack/post')).json.reason], ['permission_denied']);
    const deniedModel = await call('/v1/chat/completions', token, chat());
    assert.equal(deniedModel.status, 403);
    assert.equal(deniedModel.json.error.code, 'authority_lost');
    assert.equal((await call('/v1/models', token)).status, 403);
    authority.answer = 'tenant';
    const moved = await call('/v1/chat/completions', token, chat());
    assert.equal(moved.json.error.code, 'authority_lost');
    assert.match(moved.json.error.message, /TenantMismatch/);
    authority.answer = 'down';
    const unknown = await call('/v1/chat/completions', token, chat());
    assert.equal(unknown.status, 503);
    assert.equal(unknown.json.error.code, 'authorization_unavailable');
    assert.equal((await tool()).status, 503);
    assert.equal(forwarded(), before.upstream, 'nothing refused reached the provider');
    assert.equal(ledger.usage(executions.get('ns/rbac-each')!).connectorCalls, before.connectorCalls, 'a refused tool call is not counted');
  } finally {
    authority.answer = 'allow';
  }
});

test("someone else's grant to the same delegate, or a user-owned binding of someone else, serves no call", async () => {
  // bob's execution names alice's delegate; the only grant of the tool is alice's.
  const token = admit('bobs', {}, { authority: { ...execution().spec.authority, delegator: 'bob' }, modelProviderRef: { name: 'alices-model' } });
  grants.set(grant({ tool: 'mcp.jira/create' }, 'Active', 'alices-jira'));
  const refused = await call('/v1/tools/authorize', token, { tool: 'mcp.jira/create' });
  assert.equal(refused.status, 403);
  assert.deepEqual([refused.json.allowed, refused.json.reason], [false, 'grant_delegator_mismatch']);
  assert.match(refused.json.message, /ToolGrantRecord alices-jira grants mcp\.jira\/create to agent:x under the delegation of alice, not of bob/);

  profiles.set(profile({ profileType: 'user_owned_model' } as any, 'alices-account'));
  bindings.set(binding({ endpoint: upstream.url, owner: 'alice', profileRef: { name: 'alices-account' } }, {}, 'alices-model'));
  const model = await call('/v1/chat/completions', token, chat());
  assert.equal(model.status, 403);
  assert.equal(model.json.error.code, 'binding_owner_mismatch');
  assert.match(model.json.error.message, /user-owned by alice, not by this execution's delegator bob/);
});
