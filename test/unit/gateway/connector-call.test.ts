// The connector route of the gateway (/v1/tools/<tool>/...) over real HTTP: a recording tool
// API (test/support/tool-upstream.ts) for http connectors, and the real MCP server
// (@modelcontextprotocol/server-everything) with the real SDK client for mcp connectors.
// Informer caches are fed by the test; the end-to-end path with the API server and the
// controller is test/integration/connectors.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import { GatewayServer } from '../../../src/gateway/server.ts';
import { mintToken, tokenSecretFor } from '../../../src/gateway/tokens.ts';
import { CredentialCache } from '../../../src/gateway/credentials.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import type { LocalAgentExecution, ToolGrantRecord } from '../../../src/api/types.generated.ts';
import { execution, grant, gatewayCaches, profile } from './fixtures.ts';
import { startToolUpstream, type ToolUpstream } from '../../support/tool-upstream.ts';
import { startMcpEverything, type McpEverything } from '../../support/mcp-everything.ts';

const celSandbox = new CelSandbox();
const TOOL_KEY = 'ghp_unit0123456789abcdefTOOLKEY';
const MCP_KEY = 'mcp-unit-key-0123456789abcdef';
const clients = {
  core: {
    readNamespacedSecret: async ({ name }: { name: string }) => ({ data: { token: Buffer.from(name === 'mcp-key' ? MCP_KEY : TOOL_KEY).toString('base64') } }),
  },
  request: async () => ({}),
} as unknown as KubeClients;

const { executions, bindings, profiles, grants, secrets, tokens, ledger, authority } = gatewayCaches(clients);
let upstream: ToolUpstream;
let mcp: McpEverything;
let server: GatewayServer;
let url = '';

const HTTP_TOOL = 'http.github';
const MCP_TOOL = 'mcp.everything';

function httpGrant(name: string, connector: Partial<NonNullable<ToolGrantRecord['spec']['connector']>> = {}, spec: Partial<ToolGrantRecord['spec']> = {}): ToolGrantRecord {
  return grant({ tool: HTTP_TOOL, connector: { endpoint: `${upstream.url}/api`, protocol: 'http', credentialsSecretRef: { name: 'gh-token', key: 'token' }, methods: ['GET', 'POST'], paths: ['/repos/*/issues', '/stream', '/echo-headers', '/upload'], ...connector }, ...spec }, 'Active', name);
}

function admit(name: string, tools: string[], connectorCalls = 5): { token: string; ex: LocalAgentExecution } {
  const ex = execution({ tools, modelProviderRef: undefined }, { budget: { effective: { ...execution().status!.budget!.effective!, connectorCalls } as any } }, name);
  executions.set(ex);
  const token = mintToken();
  const secret = tokenSecretFor(ex, token);
  secret.metadata!.uid = `s-${name}`;
  secrets.set(secret);
  return { token, ex };
}

async function call(path: string, token: string, init: RequestInit = {}) {
  const res = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

function rawGet(path: string, token: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET', headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  [upstream, mcp] = await Promise.all([startToolUpstream(), startMcpEverything()]);
  server = new GatewayServer({ tokens, informers: { executions, bindings, profiles, grants }, credentials: new CredentialCache(clients), ledger, celSandbox, authority, logger: silentLogger() });
  url = (await server.listen('127.0.0.1', 0)).url;
  server.setActive(true);
});

after(async () => {
  celSandbox.close();
  await server.close();
  await Promise.all([upstream.close(), mcp.close()]);
});

test('http: the credential is injected, the agent token and cookies stripped, the query passed on; the call counts one connectorCall', async () => {
  grants.set(httpGrant('gh-http'));
  const { token, ex } = admit('http-ok', [HTTP_TOOL]);
  const r = await call(`/v1/tools/${HTTP_TOOL}/repos/acme/issues?state=open&page=2`, token, { headers: { cookie: 'agent=1', 'x-api-key': token, 'x-request-id': 'r1' } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { ok: true, method: 'GET', path: '/api/repos/acme/issues', bytes: 0 });
  const seen = upstream.requests.at(-1)!;
  assert.equal(seen.url, '/api/repos/acme/issues?state=open&page=2');
  assert.equal(seen.headers.authorization, `Bearer ${TOOL_KEY}`);
  assert.equal(seen.headers.cookie, undefined);
  assert.equal(seen.headers['x-api-key'], undefined);
  assert.equal(seen.headers['x-request-id'], 'r1', 'other headers go on');
  assert.ok(!JSON.stringify(seen.headers).includes(token), 'the agent token never reaches the tool');
  assert.equal(r.headers.get('set-cookie'), null, "the tool's cookies do not reach the agent");
  assert.equal(ledger.usage(ex).connectorCalls, 1);
});

test("http: the profile's toolGrant rules see the call's action, which is its method", async () => {
  // A rule that needs request.action on every call: an http call is judged with its method as action.
  profiles.set(profile({ rules: [{ name: 'get-only', gate: 'toolGrant', expression: "!has(request.method) || (has(request.action) && request.action == 'GET')", message: 'GET only' }] } as never, 'narrowed'));
  grants.set(httpGrant('gh-rule', {}, { tool: 'http.rule' }));
  const { token } = admit('http-rule', ['http.rule']);
  const ex = executions.get('ns/http-rule')!;
  executions.set({ ...ex, spec: { ...ex.spec, profileRef: { name: 'narrowed' } } });
  const get = await call('/v1/tools/http.rule/repos/acme/issues', token);
  assert.equal(get.status, 200, get.text);
  const post = await call('/v1/tools/http.rule/repos/acme/issues', token, { method: 'POST', body: '{}' });
  assert.deepEqual([post.status, post.json?.error?.code], [403, 'policy_denied'], post.text);
});

test('http: a custom header and format present the credential; an upstream that echoes it is masked', async () => {
  grants.set(httpGrant('gh-custom', { present: { header: 'X-Tool-Key', format: 'token={value};' } }, { tool: 'http.custom' }));
  const { token } = admit('http-custom', ['http.custom']);
  const r = await call('/v1/tools/http.custom/echo-headers', token);
  assert.equal(r.status, 200, r.text);
  assert.equal(upstream.requests.at(-1)!.headers['x-tool-key'], `token=${TOOL_KEY};`);
  assert.ok(!r.text.includes(TOOL_KEY), r.text);
  assert.match(r.json['x-tool-key'], /^token=\*+;$/);
  assert.equal(r.json['x-tool-key'].length, `token=${TOOL_KEY};`.length, 'masked to the same length');
});

test('http: methods and paths off the connector are refused (403, audited), traversal is refused (400), nothing reaches the tool', async () => {
  grants.set(httpGrant('gh-narrow', { methods: ['GET'], paths: ['/repos/*/issues'] }, { tool: 'http.narrow' }));
  const { token } = admit('http-narrow', ['http.narrow']);
  const before = upstream.requests.length;
  const audited = authority.audited.length;
  const post = await call('/v1/tools/http.narrow/repos/acme/issues', token, { method: 'POST', body: '{}' });
  assert.deepEqual([post.status, post.json.error.code], [403, 'connector_method_denied']);
  const off = await call('/v1/tools/http.narrow/repos/acme/pulls', token);
  assert.deepEqual([off.status, off.json.error.code], [403, 'connector_path_denied']);
  // Sent as raw request lines: fetch would resolve the dot segments itself.
  for (const p of ['/repos/acme/../../admin', '/repos/%2e%2e/issues', '/repos/a%2fb/issues', '/repos//issues', '/repos/%5c/issues', '/repos/%zz/issues']) {
    const bad = await rawGet(`/v1/tools/http.narrow${p}`, token);
    assert.deepEqual([bad.status, JSON.parse(bad.text).error.code], [400, 'invalid_path'], `${p}: ${bad.text}`);
  }
  assert.equal(upstream.requests.length, before);
  const lines = authority.audited.slice(audited).map((a) => a.command);
  assert.ok(lines.some((c) => c.reason === 'ToolCallDenied' && /method POST/.test(c.message)), JSON.stringify(lines));
  assert.ok(lines.some((c) => c.reason === 'ToolCallDenied' && /path \/repos\/acme\/pulls/.test(c.message)), JSON.stringify(lines));
});

test('the longest tool of the execution with a connector is the one a path names; unknown tools 404', async () => {
  grants.set(httpGrant('gh-short', {}, { tool: 'http.x' }));
  grants.set(httpGrant('gh-long', { endpoint: `${upstream.url}/long` }, { tool: 'http.x/repos' }));
  const { token } = admit('http-longest', ['http.x', 'http.x/repos']);
  const r = await call('/v1/tools/http.x/repos/acme/issues', token, { headers: {} });
  // http.x/repos → /long + /acme/issues: not among its paths.
  assert.deepEqual([r.status, r.json.error.code], [403, 'connector_path_denied']);
  const other = await call('/v1/tools/http.y/anything', token);
  assert.deepEqual([other.status, other.json.error.code], [404, 'unknown_tool']);
});

test('http: a large body is streamed to the tool as it comes, not buffered', async () => {
  grants.set(httpGrant('gh-upload', {}, { tool: 'http.upload' }));
  const { token } = admit('http-upload', ['http.upload']);
  const chunk = Buffer.alloc(1024 * 1024, 7);
  const chunks = 32;
  const start = upstream.bytesReceived();
  let sent = 0;
  const body = new ReadableStream({
    async pull(c) {
      if (sent === chunks) return c.close();
      // The last MiB goes only once the tool has seen the first: a gateway that held the body
      // until its end would never let it through.
      if (sent === chunks - 1) {
        const deadline = Date.now() + 10_000;
        while (upstream.bytesReceived() - start < chunk.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        if (upstream.bytesReceived() - start < chunk.length) return c.error(new Error('the tool saw nothing of the body before its end'));
      }
      sent++;
      c.enqueue(chunk);
    },
  });
  const r = await call('/v1/tools/http.upload/upload', token, { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/octet-stream' } } as RequestInit);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.bytes, chunks * chunk.length);
});

test('budget: calls in flight count; the next call is 429 naming connectorCalls', async () => {
  grants.set(httpGrant('gh-budget', {}, { tool: 'http.budget' }));
  const { token } = admit('http-budget', ['http.budget'], 1);
  const controller = new AbortController();
  const streaming = await fetch(`${url}/v1/tools/http.budget/stream`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  assert.equal(streaming.status, 200);
  const r = await call('/v1/tools/http.budget/repos/a/issues', token);
  assert.deepEqual([r.status, r.json.error.dimension], [429, 'connectorCalls']);
  controller.abort();
});

test('revocation: the next call is refused (authority_lost) and an open stream is ended within 1 s', async () => {
  const g = httpGrant('gh-revoke', {}, { tool: 'http.revoke' });
  grants.set(g);
  const { token } = admit('http-revoke', ['http.revoke']);
  const res = await fetch(`${url}/v1/tools/http.revoke/stream`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  assert.match(Buffer.from((await reader.read()).value!).toString(), /data: \{"n":0\}/);
  const revokedAt = performance.now();
  grants.set({ ...g, metadata: { ...g.metadata, resourceVersion: '2' }, spec: { ...g.spec, revoked: true, revocationReason: 'test' }, status: { state: 'Revoked' } });
  let ended = false;
  try {
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
    ended = true;
  } catch {
    ended = true;
  }
  const ms = performance.now() - revokedAt;
  assert.ok(ended && ms < 1000, `stream ended after ${ms} ms`);
  const next = await call('/v1/tools/http.revoke/repos/a/issues', token);
  assert.deepEqual([next.status, next.json.error.code], [403, 'authority_lost']);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(upstream.openStreams(), 0, 'the upstream stream was closed too');
});

test('mcp: the real client through the gateway sees only granted tools, a granted call is answered by the real server, an ungranted one is a JSON-RPC error (audited); tools/call counts', async () => {
  grants.set(grant({ tool: MCP_TOOL, actions: ['echo', 'get-sum'], connector: { endpoint: mcp.url, protocol: 'mcp', credentialsSecretRef: { name: 'mcp-key', key: 'token' } } }, 'Active', 'mcp-g'));
  const { token, ex } = admit('mcp-run', [MCP_TOOL], 3);
  const client = new Client({ name: 'unit', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/v1/tools/${MCP_TOOL}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  try {
    const listed = await client.listTools();
    assert.deepEqual(listed.tools.map((t) => t.name).sort(), ['echo', 'get-sum']);
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'through the gateway' } });
    assert.deepEqual(echoed.content, [{ type: 'text', text: 'Echo: through the gateway' }]);
    const audited = authority.audited.length;
    await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }), (err: any) => err.code === -32001 && /not granted/.test(err.message));
    await assert.rejects(client.callTool({ name: 'Echo', arguments: { message: 'x' } }), (err: any) => err.code === -32001 && /by case/.test(err.message));
    assert.ok(authority.audited.slice(audited).some((a) => a.command.reason === 'ToolCallDenied' && /get-env/.test(a.command.message)));
    assert.equal(ledger.usage(ex).connectorCalls, 1, 'one granted tools/call');
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
    assert.match(JSON.stringify(sum.content), /5/);
    await client.callTool({ name: 'echo', arguments: { message: 'third' } });
    await assert.rejects(client.callTool({ name: 'echo', arguments: { message: 'over budget' } }), /429|budget/);
  } finally {
    await client.close();
  }
});
