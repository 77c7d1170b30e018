// Every gateway decision in the audit trail, in batches: model calls (the real OpenAI-shaped
// test server), tool decisions, MCP tools/calls (the real MCP server and SDK client), allowed and
// refused, each with execution, delegator, delegate, decision and reason — and never the prompt,
// the token, a header or a query string. The records go to the real file store and verify.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import { AuditLog, verifyAuditLog, type AuditEntry } from '../../../src/governance/audit-log.ts';
import { GatewayServer } from '../../../src/gateway/server.ts';
import { auditRecordsOf, GatewayDecisionAudit } from '../../../src/gateway/decision-audit.ts';
import { mintToken, tokenSecretFor } from '../../../src/gateway/tokens.ts';
import { CredentialCache } from '../../../src/gateway/credentials.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import type { LocalAgentExecution } from '../../../src/api/types.generated.ts';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../support/openai-test-server.ts';
import { startMcpEverything, type McpEverything } from '../../support/mcp-everything.ts';
import { binding, execution, grant, gatewayCaches } from './fixtures.ts';

const celSandbox = new CelSandbox();
const UPSTREAM_KEY = 'sk-upstream-decision-0123456789abcdef';
const MCP_KEY = 'mcp-decision-key-0123456789abcdef';
const PROMPT = 'the secret plan is PROMPT-TEXT-4711';
const QUERY = 'sig=QUERY-SECRET-0815';
const clients = {
  core: { readNamespacedSecret: async ({ name }: { name: string }) => ({ data: { apiKey: Buffer.from(UPSTREAM_KEY).toString('base64'), token: Buffer.from(name === 'mcp-key' ? MCP_KEY : UPSTREAM_KEY).toString('base64') } }) },
  request: async () => ({}),
} as unknown as KubeClients;
const { executions, bindings, profiles, grants, secrets, tokens, ledger, authority } = gatewayCaches(clients);
let upstream: OpenAiTestServer;
let mcp: McpEverything;
let server: GatewayServer;
let audit: AuditLog;
let dir: string;
let url = '';

function admit(name: string, spec: Partial<LocalAgentExecution['spec']> = {}): { token: string; ex: LocalAgentExecution } {
  const ex = execution(spec, { budget: { effective: { ...execution().status!.budget!.effective!, modelCalls: 100, connectorCalls: 100 } as any } }, name);
  executions.set(ex);
  const token = mintToken();
  const secret = tokenSecretFor(ex, token);
  secret.metadata!.uid = `s-${name}`;
  secrets.set(secret);
  return { token, ex };
}

const post = (path: string, token: string, body: unknown) => fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-custom-header': 'HEADER-SECRET-42' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, text: await r.text() }));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'decision-audit-'));
  audit = await AuditLog.open(join(dir, 'audit.jsonl'));
  upstream = await startOpenAiTestServer({ apiKey: UPSTREAM_KEY });
  mcp = await startMcpEverything();
  bindings.set(binding({ endpoint: upstream.url, credentialsSecretRef: { name: 'llm-key', key: 'apiKey' } }));
  server = new GatewayServer({ tokens, informers: { executions, bindings, profiles, grants }, credentials: new CredentialCache(clients), ledger, celSandbox, authority, logger: silentLogger(), audit, egressAuditIntervalMs: 60_000 });
  url = (await server.listen('127.0.0.1', 0)).url;
  server.setActive(true);
});

after(async () => {
  celSandbox.close();
  await server.close();
  await audit.close();
  await upstream.close();
  await mcp.close();
  await rm(dir, { recursive: true, force: true });
});

test('model, tool and MCP decisions, allowed and refused, become batched records of who and why — no prompt, token, header or query', async () => {
  const { token, ex } = admit('audited-run', { tools: ['mcp.everything', 'shell.exec'] });
  grants.set(grant({ tool: 'mcp.everything', actions: ['echo'], connector: { endpoint: mcp.url, protocol: 'mcp', credentialsSecretRef: { name: 'mcp-key', key: 'token' } } }, 'Active', 'mcp-g'));
  grants.set(grant({ tool: 'shell.exec', actions: ['run'] }, 'Active', 'shell-g'));

  for (let i = 0; i < 3; i++) assert.equal((await post(`/v1/chat/completions?${QUERY}`, token, { model: 'test-model', messages: [{ role: 'user', content: PROMPT }] })).status, 200);
  assert.equal((await post('/v1/chat/completions', token, { model: 'another-model', messages: [{ role: 'user', content: PROMPT }] })).status, 400);
  assert.equal((await post('/v1/tools/authorize', token, { tool: 'shell.exec', action: 'run' })).status, 200);
  assert.equal((await post('/v1/tools/authorize', token, { tool: 'shell.exec', action: 'rm' })).status, 403);
  // A tool name is the agent's to write: one it was not admitted with is not repeated.
  assert.ok((await post('/v1/tools/authorize', token, { tool: PROMPT, action: 'run' })).status >= 400);
  const client = new Client({ name: 'unit', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/v1/tools/mcp.everything?${QUERY}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  try {
    await client.callTool({ name: 'echo', arguments: { message: PROMPT } });
    await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }));
  } finally {
    await client.close();
  }
  // A call without a token names no execution: counted, not audited.
  assert.equal((await post('/v1/chat/completions', 'amx_not-a-token', {})).status, 401);

  const before = audit.head().seq;
  await server.close();
  const lines = (await readFile(audit.path, 'utf8')).trim().split('\n');
  const mine = lines.map((l) => JSON.parse(l) as AuditEntry).filter((e) => e.calls !== undefined && e.seq > 0);
  assert.ok(audit.head().seq > before - 1 && mine.length >= 2, 'records were written at close');
  for (const e of mine) {
    assert.deepEqual([e.object.name, e.object.uid, e.actor, e.delegate], ['audited-run', ex.metadata.uid, ex.spec.authority.delegator, ex.spec.authority.delegate]);
    assert.equal(e.outcome, e.calls!.every((c) => c.decision === 'allowed') ? 'allowed' : 'denied');
  }
  const items = mine.flatMap((e) => e.calls!.map((c) => `${c.kind} ${c.target} ${c.decision} ${c.reason} x${c.calls}`)).sort();
  assert.ok(items.includes('model llm allowed forwarded x3'), items.join('\n'));
  assert.ok(items.some((i) => /^model llm denied \S+ x1$/.test(i)), items.join('\n'));
  assert.ok(items.includes('tool shell.exec allowed allowed x1'), items.join('\n'));
  assert.ok(items.some((i) => /^tool shell.exec denied \S+ x1$/.test(i)), items.join('\n'));
  assert.ok(items.some((i) => /^tool \(not admitted\) denied \S+ x1$/.test(i)), items.join('\n'));
  assert.ok(items.includes('mcp echo allowed allowed x1'), items.join('\n'));
  assert.ok(items.includes('mcp get-env denied not_granted x1'), items.join('\n'));
  assert.ok(items.some((i) => i.startsWith('connector mcp.everything allowed forwarded')), items.join('\n'));
  const text = lines.join('\n');
  for (const secret of ['PROMPT-TEXT-4711', 'QUERY-SECRET', 'HEADER-SECRET', token, UPSTREAM_KEY, MCP_KEY, 'amx_']) assert.ok(!text.includes(secret), `the trail holds ${secret}`);
  assert.deepEqual(await verifyAuditLog(audit.path), { ok: true, entries: lines.length });
});

test('batching: one record per execution, family and decision, 64 items at most per record', async () => {
  const records: unknown[] = [];
  const d = new GatewayDecisionAudit({ audit: { append: async (r) => (records.push(r), undefined as never) }, logger: silentLogger(), flushIntervalMs: 60_000 });
  const subject = { namespace: 'ns', execution: 'run', uid: 'u1', delegator: 'alice', delegate: 'agent', profile: 'local' };
  for (let i = 0; i < 1000; i++) d.call(subject, 'model', 'llm', 'allowed', 'forwarded');
  for (let i = 0; i < 100; i++) d.call(subject, 'mcp', `tool-${i}`, 'denied', 'not_granted');
  d.egress(subject, { host: 'example.com', port: 443, decision: 'allowed', reason: 'allowlist', bytesUp: 10, bytesDown: 20 });
  d.egress(subject, { host: 'example.com', port: 443, decision: 'allowed', reason: 'allowlist', bytesUp: 1, bytesDown: 2 });
  await d.close();
  const shape = (records as { outcome: string; calls?: { calls: number }[]; egress?: { connections: number; bytesUp: number }[] }[]).map((r) => [r.outcome, r.calls ? `calls:${r.calls.length}:${r.calls.reduce((s, c) => s + c.calls, 0)}` : `egress:${r.egress!.length}:${r.egress![0]!.connections}:${r.egress![0]!.bytesUp}`]);
  assert.deepEqual(shape, [['allowed', 'calls:1:1000'], ['allowed', 'egress:1:2:11'], ['denied', 'calls:64:64'], ['denied', 'calls:36:36']]);
  assert.deepEqual(auditRecordsOf({ subject, egress: new Map(), calls: new Map() }), []);
});
