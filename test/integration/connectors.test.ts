// Tool connectors end to end: the real controller CLI on the real API server, a real podman
// container calling an http connector through the gateway, a recording tool API
// (test/support/tool-upstream.ts) and the real MCP server (@modelcontextprotocol/server-everything)
// driven by the real MCP SDK client through the gateway's connector route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { kubeConfigFor, kubectl, sandboxImage } from '../support/integration-env.ts';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import { RESOURCES } from '../../src/api/resources.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createAs, createNamespace, eventually, getObject, suffix } from '../support/objects.ts';
import { startToolUpstream, type ToolUpstream } from '../support/tool-upstream.ts';
import { startMcpEverything, type McpEverything } from '../support/mcp-everything.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'am-connectors-'));
const id = suffix();
const MiB = 1024 * 1024;
const KEY_MARK = `toolkey${id}x`;
const TOOL_KEY = `${KEY_MARK}${randomBytes(12).toString('hex')}`;
const MCP_KEY = `mcpkey${id}x${randomBytes(12).toString('hex')}`;
const PROFILE = `conn-personal-${id}`;
const HTTP_TOOL = 'http.api';
const MCP_TOOL = 'mcp.everything';

let ns = '';
let upstream: ToolUpstream;
let mcp: McpEverything;
let controller: ControllerProcess;
let gateway = '';
const alice = createKubeClients(kubeConfigFor('alice'));
const responses: string[] = [];

const auditLines = (): any[] => readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const exStatus = async (name: string): Promise<any> => (await getObject('LocalAgentExecution', name, ns))?.status;
const grantState = async (name: string): Promise<string | undefined> => (await getObject<any>('ToolGrantRecord', name, ns))?.status?.state;

function grant(name: string, tool: string, connector: object, actions?: string[]) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ToolGrantRecord',
    metadata: { name, namespace: ns },
    spec: { profileRef: { name: PROFILE }, tool, ...(actions ? { actions } : {}), connector, authority: { ...authority('alice', ['agent_machine.tool_grant.*', `tool:${tool}`]), delegate: 'agent:test' } },
  };
}

const httpConnector = () => ({ endpoint: `${upstream.url}/api`, protocol: 'http', credentialsSecretRef: { name: 'tool-key', key: 'token' }, methods: ['GET', 'POST'], paths: ['/repos/*/issues', '/stream', '/echo-headers'] });
const mcpConnector = () => ({ endpoint: mcp.url, protocol: 'mcp', credentialsSecretRef: { name: 'mcp-key', key: 'token' } });

function execution(name: string, command: string, tools: string[], connectorCalls: number) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name, namespace: ns },
    spec: {
      profileRef: { name: PROFILE },
      authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run', 'tool:*']),
      containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', command] }],
      tools,
      budget: { wallClockSeconds: 120, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 60, connectorCalls },
    },
  };
}

const waitPhase = (name: string, phase: string, timeoutMs = 60_000) =>
  eventually(`${name} ${phase}`, async () => {
    const s = await exStatus(name);
    if (s?.phase === phase) return s;
    if (s?.phase && ['Succeeded', 'Failed', 'Cancelled', 'Denied'].includes(s.phase) && s.phase !== phase) throw new Error(`${name} ended ${s.phase}: ${JSON.stringify(s.conditions)}`);
    return undefined;
  }, timeoutMs);

async function tokenOf(execution: string): Promise<string> {
  return eventually(`token Secret of ${execution}`, async () => {
    try {
      const s = await admin.core.readNamespacedSecret({ name: `${execution}-gateway-token`, namespace: ns });
      return Buffer.from(s.data!.token!, 'base64').toString();
    } catch {
      return undefined;
    }
  });
}

async function call(route: string, token: string, init: RequestInit = {}): Promise<{ status: number; text: string; json: any }> {
  const res = await fetch(`${gateway}${route}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
  const text = await res.text();
  responses.push(text);
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

function mcpClient(token: string): { client: Client; transport: StreamableHTTPClientTransport } {
  const client = new Client({ name: 'connectors-test', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${gateway}/v1/tools/${MCP_TOOL}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  return { client, transport };
}

before(async () => {
  await installApi();
  ns = await createNamespace('connectors');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  [upstream, mcp] = await Promise.all([startToolUpstream(), startMcpEverything()]);
  const created = await createAs('alice', {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineProfile',
    metadata: { name: PROFILE },
    spec: {
      profileType: 'personal',
      authority: authority('alice', ['agent_machine.profile.create']),
      budgetCeilings: { modelCalls: 10, tokens: 10_000, connectorCalls: 50, cpuGpuComputeSeconds: 120, localDiskBytes: 256 * MiB, sandboxMemoryBytes: 256 * MiB, wallClockSeconds: 300, agentConcurrency: 8 },
    },
  });
  assert.equal(created.code, 0, created.stderr);
  await kubectl(['create', 'secret', 'generic', 'tool-key', '-n', ns, `--from-literal=token=${TOOL_KEY}`]);
  await kubectl(['create', 'secret', 'generic', 'mcp-key', '-n', ns, `--from-literal=token=${MCP_KEY}`]);
  controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl'), args: ['--gateway-bind-address', '0.0.0.0:0', '--log-level', 'debug'] });
  const listening = await controller.waitForLog((l) => l.msg === 'model gateway listening');
  gateway = String(listening.url).replace('0.0.0.0', '127.0.0.1');
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${PROFILE}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
  await Promise.all([upstream?.close(), mcp?.close()]);
});

test('a connector grant whose delegator may not get its Secret is Denied, naming the Secret; with RBAC on the Secret it is Active', async () => {
  assert.equal((await createAs('alice', grant('no-secret', HTTP_TOOL, httpConnector()))).code, 0);
  const denied = await eventually('no-secret Denied', async () => {
    const g = await getObject<any>('ToolGrantRecord', 'no-secret', ns);
    return g?.status?.state === 'Denied' ? g.status : undefined;
  }, 30_000);
  const ready = denied.conditions.find((c: any) => c.type === 'Ready');
  assert.match(ready.message, /may not get secrets "tool-key" in namespace/, ready.message);
  await kubectl(['delete', 'toolgrantrecord', 'no-secret', '-n', ns, '--wait=false']);

  await kubectl(['apply', '-f', '-'], {
    stdin: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'tool-secrets', namespace: ns }, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['tool-key', 'mcp-key'], verbs: ['get'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'tool-secrets-alice', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tool-secrets' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }] },
      ],
    }),
  });
  assert.equal((await createAs('alice', grant('api', HTTP_TOOL, httpConnector()), grant('mcp', MCP_TOOL, mcpConnector(), ['echo', 'get-sum']))).code, 0);
  await eventually('grants Active', async () => (await grantState('api')) === 'Active' && (await grantState('mcp')) === 'Active', 30_000);
});

test('a real container calls the http connector: the tool sees the injected credential, the container never holds it; off-list paths are 403', async () => {
  const hdr = `--header "Authorization: Bearer $AGENT_MACHINE_GATEWAY_TOKEN"`;
  const base = `"$AGENT_MACHINE_GATEWAY_URL/v1/tools/${HTTP_TOOL}`;
  const script = [
    `wget -q -O - ${hdr} ${base}/repos/acme/issues?state=open"; echo`,
    `echo "stars=$(wget -q -O - ${hdr} ${base}/echo-headers" | sed -n 's/.*"authorization":"Bearer \\([*]*\\)".*/\\1/p' | tr -d '\\n' | wc -c)"`,
    `wget -q -O /dev/null ${hdr} ${base}/admin" 2>&1 | head -1`,
    `echo "env-hits=$(env | grep -c '${KEY_MARK}')"`,
    `echo "env-names=$(env | cut -d= -f1 | grep -c AGENT_MACHINE_GATEWAY)"`,
  ].join('; ');
  const before = upstream.requests.length;
  assert.equal((await createAs('alice', execution('agent-http', script, [HTTP_TOOL], 10))).code, 0);
  await waitPhase('agent-http', 'Succeeded', 90_000);
  const rec = await getObject<any>('ContainerExecutionRecord', 'agent-http-agent', ns);
  const tail: string = rec.status.logTail;
  assert.match(tail, /"ok":true,"method":"GET","path":"\/api\/repos\/acme\/issues"/, tail);
  assert.match(tail, new RegExp(`stars=${TOOL_KEY.length}\\b`), `the echoed credential came back masked: ${tail}`);
  assert.match(tail, /403 Forbidden/, tail);
  assert.match(tail, /env-hits=0/, tail);
  assert.match(tail, /env-names=2/, tail);
  const seen = upstream.requests.slice(before);
  assert.equal(seen.length, 2, 'the off-list path never reached the tool');
  assert.equal(seen[0]!.url, '/api/repos/acme/issues?state=open');
  for (const r of seen) assert.equal(r.headers.authorization, `Bearer ${TOOL_KEY}`);
  const used = await eventually('connectorCalls in status', async () => {
    const u = (await exStatus('agent-http'))?.budget?.used;
    return u?.connectorCalls === 2 ? u : undefined;
  });
  assert.equal(used.connectorCalls, 2);
});

test('http: method and path off the connector → 403 (audited); the budget → 429 naming connectorCalls', async () => {
  assert.equal((await createAs('alice', execution('calls', 'sleep 100', [HTTP_TOOL, MCP_TOOL], 3))).code, 0);
  await waitPhase('calls', 'Running');
  const token = await tokenOf('calls');
  const del = await call(`/v1/tools/${HTTP_TOOL}/repos/acme/issues`, token, { method: 'DELETE' });
  assert.deepEqual([del.status, del.json.error.code], [403, 'connector_method_denied']);
  const off = await call(`/v1/tools/${HTTP_TOOL}/repos/acme/pulls`, token);
  assert.deepEqual([off.status, off.json.error.code], [403, 'connector_path_denied']);
  await eventually('the refusal audited', async () => auditLines().find((e) => e.object.name === 'calls' && e.outcome === 'denied' && /gateway refused a call through http\.api: path \/repos\/acme\/pulls/.test(e.reason)));
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await call(`/v1/tools/${HTTP_TOOL}/repos/acme/issues`, token)).status);
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  const over = await call(`/v1/tools/${HTTP_TOOL}/repos/acme/issues`, token);
  assert.deepEqual([over.status, over.json.error.dimension], [429, 'connectorCalls']);
});

test('MCP through the gateway with the real client and server: tools/list filtered, granted call answered, ungranted refused (JSON-RPC error, audited), each tools/call counted', async () => {
  assert.equal((await createAs('alice', execution('mcp-run', 'sleep 100', [MCP_TOOL], 5))).code, 0);
  await waitPhase('mcp-run', 'Running');
  const token = await tokenOf('mcp-run');
  const { client, transport } = mcpClient(token);
  await client.connect(transport);
  try {
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(tools, ['echo', 'get-sum']);
    const echoed = await client.callTool({ name: 'echo', arguments: { message: `hello ${id}` } });
    assert.deepEqual(echoed.content, [{ type: 'text', text: `Echo: hello ${id}` }]);
    await assert.rejects(client.callTool({ name: 'get-env', arguments: {} }), (err: any) => err.code === -32001);
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 20, b: 22 } });
    assert.match(JSON.stringify(sum.content), /42/);
  } finally {
    await client.close();
  }
  const audited = await eventually('ungranted tools/call audited', async () => auditLines().find((e) => e.object.name === 'mcp-run' && e.outcome === 'denied' && /tools\/call "get-env" refused/.test(e.reason)));
  assert.equal(audited.actor, 'alice');
  const used = await eventually('connectorCalls in status', async () => {
    const u = (await exStatus('mcp-run'))?.budget?.used;
    return u?.connectorCalls === 2 ? u : undefined;
  });
  assert.equal(used.connectorCalls, 2, 'two granted tools/call; initialize and tools/list are not counted');
});

test('hostile MCP input: every element refused before the server, the gateway keeps serving', async (t) => {
  assert.equal((await createAs('alice', execution('mcp-hostile', 'sleep 100', [MCP_TOOL], 50))).code, 0);
  await waitPhase('mcp-hostile', 'Running');
  const token = await tokenOf('mcp-hostile');
  const callOf = (i: number, name: unknown) => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name, arguments: {} } });
  const names = ['get-env', 'Echo', 'ECHO', 'echO', 'ｅｃｈｏ', 'еcho', 'echo\u200b', 'e\u0301cho', 'ｇｅｔ-ｓｕｍ', 'get\u2010sum', 'get-sum ', ' echo', 'ECHO\u0000'];
  const corpus: string[] = [];
  for (const [i, n] of names.entries()) corpus.push(JSON.stringify(callOf(i, n)));
  for (const [i, n] of names.entries()) corpus.push(JSON.stringify([{ jsonrpc: '2.0', id: 100 + i, method: 'tools/list' }, callOf(200 + i, 'echo'), callOf(300 + i, n)]));
  corpus.push(JSON.stringify([{ jsonrpc: '2.0', method: 'notifications/initialized' }, callOf(1, 'get-env')]));
  for (const bad of ['{', '{"jsonrpc":"2.0","id":1,"method":"tools/call"', '[', '', 'null', '42', '"tools/call"', '[]', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}x']) corpus.push(bad);
  for (const m of ['tools/exec', 'tools/Call', 'TOOLS/CALL', 'admin/shutdown', 'rpc.discover', 'notifications/anything']) corpus.push(JSON.stringify({ jsonrpc: '2.0', id: 'm', method: m, params: {} }));
  for (const odd of [{ jsonrpc: '1.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: { x: 1 }, method: 'ping' }, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: ['echo'] }, { jsonrpc: '2.0', method: 'tools/call', params: { name: 'echo' } }, callOf(1, 42), callOf(1, ''), callOf(1, 'x'.repeat(300))]) corpus.push(JSON.stringify(odd));
  const postsBefore = mcp.output.join('').split('Received MCP POST request').length;
  const outcomes: Record<string, number> = {};
  for (const body of corpus) {
    const r = await call(`/v1/tools/${MCP_TOOL}`, token, { method: 'POST', body, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } });
    const errors = Array.isArray(r.json) ? r.json : [r.json];
    assert.ok(r.status === 200 || r.status === 400, `${body.slice(0, 80)} → ${r.status} ${r.text.slice(0, 200)}`);
    assert.ok(errors.length > 0 && errors.every((e: any) => e?.error?.code < 0), `${body.slice(0, 80)} → ${r.text.slice(0, 200)}`);
    const reason = errors.map((e: any) => e.error.data?.reason).filter((x: string) => x !== 'batch_refused')[0] ?? 'batch_refused';
    outcomes[`${r.status} ${reason}`] = (outcomes[`${r.status} ${reason}`] ?? 0) + 1;
  }
  t.diagnostic(`hostile MCP corpus: ${corpus.length} requests; outcomes ${JSON.stringify(outcomes)}`);
  const postsAfter = mcp.output.join('').split('Received MCP POST request').length;
  assert.equal(postsAfter, postsBefore, 'nothing of the corpus reached the MCP server');
  assert.equal((await exStatus('mcp-hostile'))?.budget?.used?.connectorCalls ?? 0, 0, 'refused calls are not counted');
  const { client, transport } = mcpClient(token);
  await client.connect(transport);
  try {
    assert.deepEqual((await client.callTool({ name: 'echo', arguments: { message: 'still serving' } })).content, [{ type: 'text', text: 'Echo: still serving' }]);
  } finally {
    await client.close();
  }
});

test('revocation: the next connector call is refused and an open MCP SSE stream ends, both within 1 s of the revoking write', async (t) => {
  assert.equal((await createAs('alice', execution('revoke-run', 'sleep 100', [HTTP_TOOL, MCP_TOOL], 50))).code, 0);
  await waitPhase('revoke-run', 'Running');
  const token = await tokenOf('revoke-run');
  // An MCP session and its GET SSE stream, as the SDK opens them.
  const init = await fetch(`${gateway}/v1/tools/${MCP_TOOL}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  });
  const session = init.headers.get('mcp-session-id')!;
  await init.text();
  assert.ok(session, 'the session id came through');
  const sse = await fetch(`${gateway}/v1/tools/${MCP_TOOL}`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'mcp-session-id': session } });
  assert.equal(sse.status, 200);
  assert.match(sse.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = sse.body!.getReader();
  let streamEnded = 0;
  const ended = (async () => {
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch {
      // destroyed: ended too
    }
    streamEnded = performance.now();
  })();
  assert.equal((await call(`/v1/tools/${HTTP_TOOL}/repos/acme/issues`, token)).status, 200);

  const revoke = (name: string) => alice.request({ method: 'PATCH', path: RESOURCES.ToolGrantRecord.apiPath(ns, name), body: { spec: { revoked: true, revocationReason: 'test' } }, contentType: 'application/merge-patch+json' });
  const tStream = performance.now();
  await revoke('mcp');
  await Promise.race([ended, new Promise((res) => setTimeout(res, 5_000))]);
  const t0 = performance.now();
  await revoke('api');
  let refusedAt = 0;
  for (;;) {
    const r = await call(`/v1/tools/${HTTP_TOOL}/repos/acme/issues`, token);
    if (r.status === 403) {
      assert.equal(r.json.error.code, 'authority_lost');
      refusedAt = performance.now();
      break;
    }
    if (performance.now() - t0 > 5_000) assert.fail(`still ${r.status} 5 s after the revocation`);
    await new Promise((res) => setTimeout(res, 20));
  }
  t.diagnostic(`revoke write → next http connector call refused ${Math.round(refusedAt - t0)} ms; revoke write → MCP SSE stream ended ${streamEnded ? Math.round(streamEnded - tStream) : 'never'} ms`);
  assert.ok(refusedAt - t0 < 1_000, `refused after ${refusedAt - t0} ms`);
  assert.ok(streamEnded > 0 && streamEnded - tStream < 1_000, `stream ended after ${streamEnded - tStream} ms`);
  const post = await call(`/v1/tools/${MCP_TOOL}`, token, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), headers: { 'content-type': 'application/json', 'mcp-session-id': session } });
  assert.deepEqual([post.status, post.json.error.code], [403, 'authority_lost']);
});

test('the tool credentials appear nowhere: controller logs, status, events, gateway answers', async () => {
  const forms = [TOOL_KEY, MCP_KEY, Buffer.from(TOOL_KEY).toString('base64'), Buffer.from(MCP_KEY).toString('base64')];
  const logs = controller.logs.map((l) => JSON.stringify(l)).join('\n');
  assert.ok(controller.logs.some((l) => l.msg === 'connector call forwarded'), 'the debug lines of connector calls are there');
  const all = await kubectl(['get', 'localagentexecutions,containerexecutionrecords,toolgrantrecords,events', '-n', ns, '-o', 'json']);
  const audit = readFileSync(path.join(dir, 'audit.jsonl'), 'utf8');
  for (const [where, text] of Object.entries({ logs, objects: all.stdout, responses: responses.join('\n'), audit })) {
    for (const f of forms) assert.ok(!text.includes(f), `a tool credential is in ${where}`);
  }
  assert.ok(!/amx_[A-Za-z0-9_-]{43}/.test(logs), 'no gateway token in the controller logs');
  assert.ok(!logs.includes('state=open'), 'no query string in the controller logs');
});
