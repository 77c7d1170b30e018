// Benchmark (prints figures, asserts nothing): what the governed gateway adds to a model call.
// Same run, same upstream (the OpenAI-compatible test server in its own process), same client:
//   direct   client → upstream (with the provider key)
//   gateway  client → controller's gateway (execution token) → upstream
//   1. Added latency: one client, sequential non-streaming chat completions; p50 and p99 of
//      gateway minus direct (targets: p50 added < 1 ms).
//   2. Throughput at 32 concurrent clients (keep-alive): requests/s through the gateway as a
//      share of direct (target ≥ 80%). Rounds alternate direct/gateway to cancel drift. CPU time
//      per call of the gateway (controller process) and of the upstream, from /proc.
//      The same rounds through a bare Node reverse proxy (bare-proxy.ts: no governance at all, its
//      own process like the gateway) show what any Node proxy costs here, and what share of
//      that floor's throughput the governed gateway keeps.
//   3. The same throughput ratio against an upstream that takes BENCH_SLOW_MS (20 ms) per call,
//      as a fast model would: the overhead a real deployment sees.
//   4. Egress, connectors, MCP (issue 15), each as p50 added latency (sequential) and
//      throughput at CONCURRENCY clients in alternating rounds of direct / gateway / a bare Node
//      proxy (bare-proxy.ts, its own process), with CPU µs per call of the gateway (controller,
//      /proc), of the bare proxy (/proc) and of this client process (process.cpuUsage):
//      a. CONNECT set-up + TLS handshake + one HTTPS GET through the tunnel (a new connection
//         per call) vs the same straight to the destination (destinations.ts, its own process);
//      b. a connector call (GET through /v1/tools/<tool>/…, credential injected) vs the tool API;
//      c. an MCP tools/call (echo) through the gateway's MCP route vs straight to the real
//         @modelcontextprotocol/server-everything, both with the real MCP SDK client.
//      Targets: p50 added < 1 ms; gateway ≥ 70% of the bare proxy's throughput.
// The gateway is the real controller process (token → execution → binding → profile from its
// informers, policy and budget on every call, usage counted and written to status in batches).
// On this 2-core machine client, gateway and upstream share the CPUs: the direct path runs two
// busy processes, the gateway path three, which bounds the throughput ratio (see the output).
// Run: make bench-gateway
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { grantEditorRole, installApi } from '../support/install.ts';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import { kubeConfigFor, kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createNamespace, eventually, getObject, suffix } from '../support/objects.ts';
import { RESOURCES } from '../../src/api/resources.ts';
import { startMcpEverything } from '../support/mcp-everything.ts';

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 4000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MiB = 1024 * 1024;
const BIG = 1_000_000_000;
const SLOW_MS = Number(process.env.BENCH_SLOW_MS ?? 20);
/** Which parts run (default all): model, egress, connector, mcp; e.g. BENCH_PARTS=connector,mcp while profiling one route. */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'model,egress,connector,mcp').split(',').map((p) => p.trim()));

const body = JSON.stringify({ model: 'test-model', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello to the benchmark, please.' }] });

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

interface Target {
  host: string;
  port: number;
  auth: string;
}

function target(url: string, auth: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), auth };
}

function post(agent: http.Agent, t: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: t.host, port: t.port, path: '/v1/chat/completions', method: 'POST', headers: { authorization: t.auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function sequential(t: Target, n: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await post(agent, t);
    out.push(performance.now() - start);
  }
  agent.destroy();
  return out;
}

let lastCalls = 0;

/** Requests per second; lastCalls holds how many were made. */
async function throughput(t: Target, concurrency: number, ms: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let done = 0;
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await post(agent, t);
        done++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  lastCalls = done;
  return done / seconds;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function startUpstream(apiKey: string, delayMs = 0): Promise<{ url: string; child: ChildProcess }> {
  return startScript('../support/openai-test-server.ts', ['--api-key', apiKey, '--delay-ms', String(delayMs)]);
}

/** A child process that prints {"url": ...} on its first line once it listens. */
async function startScript(relative: string, args: string[]): Promise<{ url: string; child: ChildProcess; info: Record<string, any> }> {
  const script = fileURLToPath(new URL(relative, import.meta.url));
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise<Record<string, any>>((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.once('exit', (code) => reject(new Error(`upstream exited ${code}`)));
  });
  return { url: String(info.url), child, info };
}

/** One call of a compared path; rejects unless it succeeded. */
type Call = () => Promise<void>;

/** A request on a keep-alive agent; resolves once the answer (2xx) was read. */
function httpCall(agent: http.Agent, host: string, port: number, method: string, path: string, headers: http.OutgoingHttpHeaders): Call {
  return () =>
    new Promise((resolve, reject) => {
      const req = http.request({ agent, host, port, path, method, headers }, (res) => {
        res.resume();
        res.on('end', () => ((res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode} ${method} ${path}`))));
      });
      req.on('error', reject);
      req.end();
    });
}

/**
 * A new connection per call: (through `proxy` with CONNECT, else straight) a TLS handshake
 * with the destination as allowed.test, one GET, the answer read to its close.
 */
function tunnelCall(dest: { port: number; ca: string }, proxy?: { port: number; auth?: string }): Call {
  const authority = `allowed.test:${dest.port}`;
  const request = `GET /bench HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`;
  const overTls = (socket: net.Socket | undefined, resolve: () => void, reject: (e: Error) => void) => {
    const t = tls.connect({ ...(socket ? { socket } : { host: '127.0.0.1', port: dest.port }), servername: 'allowed.test', ca: dest.ca });
    let head = '';
    t.setEncoding('latin1');
    t.once('secureConnect', () => t.write(request));
    t.on('data', (c: string) => {
      if (head.length < 16) head += c;
    });
    t.on('error', reject);
    t.on('close', () => (head.startsWith('HTTP/1.1 200') ? resolve() : reject(new Error(`through the tunnel: ${head.slice(0, 40) || 'nothing'}`))));
  };
  if (!proxy) return () => new Promise((resolve, reject) => overTls(undefined, resolve, reject));
  const connect = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${proxy.auth ? `Proxy-Authorization: ${proxy.auth}\r\n` : ''}\r\n`;
  return () =>
    new Promise((resolve, reject) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => s.write(connect));
      s.setNoDelay(true);
      let buf = Buffer.alloc(0);
      const onData = (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        s.removeListener('data', onData);
        const status = buf.subarray(0, 12).toString('latin1');
        if (status !== 'HTTP/1.1 200') {
          s.destroy();
          reject(new Error(`CONNECT answered ${buf.subarray(0, end).toString('latin1')}`));
          return;
        }
        overTls(s, resolve, reject);
      };
      s.on('data', onData);
      s.on('error', reject);
    });
}

async function sequentialCalls(call: Call, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await call();
    out.push(performance.now() - start);
  }
  return out;
}

/** Calls per second at `concurrency` workers for `ms`, and how many were made. */
async function callRate(call: Call, concurrency: number, ms: number): Promise<{ rate: number; calls: number }> {
  let done = 0;
  const started = performance.now();
  const end = started + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await call();
        done++;
      }
    }),
  );
  return { rate: done / ((performance.now() - started) / 1000), calls: done };
}

/**
 * One kind of call three ways: p50 added latency (sequential), then throughput in alternating
 * rounds with CPU per call of the proxy process (gateway: the controller; bare: its process)
 * and of this client process.
 */
async function compare(label: string, paths: { direct: Call; gateway: Call; bare: Call }, pids: { gateway: number; bare: number }, sequentialN: number): Promise<void> {
  const names = ['direct', 'gateway', 'bare'] as const;
  for (const n of names) {
    await sequentialCalls(paths[n], Math.min(200, sequentialN));
    await callRate(paths[n], CONCURRENCY, 1000);
  }
  const p50: Record<string, number> = {};
  const p99: Record<string, number> = {};
  for (const n of names) {
    const xs = await sequentialCalls(paths[n], sequentialN);
    p50[n] = percentile(xs, 50);
    p99[n] = percentile(xs, 99);
  }
  const rates: Record<string, number[]> = { direct: [], gateway: [], bare: [] };
  const calls: Record<string, number> = { direct: 0, gateway: 0, bare: 0 };
  const proxyCpu: Record<string, number> = { gateway: 0, bare: 0 };
  const clientCpu: Record<string, number> = { direct: 0, gateway: 0, bare: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of names) {
      const pid = n === 'direct' ? undefined : pids[n];
      const p0 = pid ? cpuSeconds(pid) : 0;
      const c0 = process.cpuUsage();
      const got = await callRate(paths[n], CONCURRENCY, ROUND_MS);
      const c = process.cpuUsage(c0);
      clientCpu[n]! += (c.user + c.system) / 1e6;
      if (pid) proxyCpu[n]! += cpuSeconds(pid) - p0;
      rates[n]!.push(got.rate);
      calls[n]! += got.calls;
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rate = (n: string) => mean(rates[n]!);
  const us = (seconds: number, n: string) => ((seconds / calls[n]!) * 1e6).toFixed(0);
  const f = (x: number) => x.toFixed(3);
  console.log(`${label}:`);
  console.log(`  latency (${sequentialN} sequential): p50 direct ${f(p50.direct!)} ms, gateway ${f(p50.gateway!)} ms, bare proxy ${f(p50.bare!)} ms; added p50 ${f(p50.gateway! - p50.direct!)} ms (target < 1 ms; bare proxy adds ${f(p50.bare! - p50.direct!)} ms), p99 ${f(p99.gateway! - p99.direct!)} ms`);
  console.log(`  throughput (${CONCURRENCY} clients, ${ROUNDS} alternating rounds of ${ROUND_MS / 1000} s): direct ${rate('direct').toFixed(0)}/s, gateway ${rate('gateway').toFixed(0)}/s (rounds ${rates.gateway!.map((x) => x.toFixed(0)).join(', ')}), bare proxy ${rate('bare').toFixed(0)}/s (rounds ${rates.bare!.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`  ratio   gateway ${((rate('gateway') / rate('bare')) * 100).toFixed(1)}% of the bare proxy (target ≥ 70%), ${((rate('gateway') / rate('direct')) * 100).toFixed(1)}% of direct; bare proxy ${((rate('bare') / rate('direct')) * 100).toFixed(1)}% of direct`);
  console.log(`  CPU per call: gateway ${us(proxyCpu.gateway!, 'gateway')} µs vs bare proxy ${us(proxyCpu.bare!, 'bare')} µs (×${(proxyCpu.gateway! / calls.gateway! / (proxyCpu.bare! / calls.bare!)).toFixed(2)}); this client ${us(clientCpu.direct!, 'direct')} µs direct, ${us(clientCpu.gateway!, 'gateway')} µs via the gateway, ${us(clientCpu.bare!, 'bare')} µs via the bare proxy`);
}

/** An MCP SDK client with an initialized session on `url`. */
async function mcpSession(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'bench-gateway', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

function mcpEcho(client: Client): Call {
  return async () => {
    const r = await client.callTool({ name: 'echo', arguments: { message: 'bench' } });
    if (r.isError) throw new Error(`tools/call echo: ${JSON.stringify(r.content)}`);
  };
}

async function main(): Promise<void> {
  await installApi();
  const ns = await createNamespace('bench-gw');
  await grantEditorRole('alice');
  await kubectl(['create', 'clusterrolebinding', 'bench-gw-delegator-alice', '--clusterrole=agent-machine-delegator', '--user=alice'], { check: false });
  const alice = createKubeClients(kubeConfigFor('alice'));
  const id = suffix();
  const key = `sk-bench-${randomBytes(12).toString('hex')}`;
  const upstream = await startUpstream(key);
  const slowUpstream = await startUpstream(key, SLOW_MS);
  const profileName = `bench-gw-${id}`;
  await alice.request({
    method: 'POST',
    path: RESOURCES.AgentMachineProfile.apiPath(),
    body: {
      apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
      kind: 'AgentMachineProfile',
      metadata: { name: profileName },
      spec: {
        profileType: 'local_model_provider',
        authority: authority('alice', ['agent_machine.profile.create']),
        budgetCeilings: { modelCalls: BIG, tokens: BIG * 100, connectorCalls: 10, cpuGpuComputeSeconds: 600, localDiskBytes: 16 * MiB, sandboxMemoryBytes: 64 * MiB, wallClockSeconds: 600, agentConcurrency: 4 },
      },
    },
  });
  await kubectl(['create', 'secret', 'generic', 'llm-key', '-n', ns, `--from-literal=apiKey=${key}`]);
  // Section 4: the destinations (own process), the real MCP server, the proxy's name map, a
  // firewall profile allowing the HTTPS destination and a personal one for the connectors.
  const destinations = await startScript('./destinations.ts', []);
  const dest = { port: Number(destinations.info.tlsPort), ca: String(destinations.info.ca) };
  const mcp = await startMcpEverything();
  const dir = mkdtempSync(path.join(tmpdir(), 'am-bench-gw-'));
  writeFileSync(path.join(dir, 'hosts'), '127.0.0.1 allowed.test\n');
  const fwProfile = `bench-gw-fw-${id}`;
  const toolProfile = `bench-gw-tools-${id}`;
  const ceilings = { modelCalls: 10, tokens: 10_000, connectorCalls: BIG, cpuGpuComputeSeconds: 600, localDiskBytes: 16 * MiB, sandboxMemoryBytes: 64 * MiB, wallClockSeconds: 600, agentConcurrency: 4 };
  for (const [name, profileType, network] of [
    [fwProfile, 'corporate_firewall', { mode: 'allowlist', egressAllowlist: [`allowed.test:${dest.port}`] }],
    [toolProfile, 'personal', undefined],
  ] as const) {
    await alice.request({
      method: 'POST',
      path: RESOURCES.AgentMachineProfile.apiPath(),
      body: {
        apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
        kind: 'AgentMachineProfile',
        metadata: { name },
        spec: { profileType, authority: authority('alice', ['agent_machine.profile.create']), budgetCeilings: ceilings, images: { allowedRegistries: ['localhost'] }, ...(network ? { network } : {}) },
      },
    });
  }
  const toolKey = `tk-bench-${randomBytes(12).toString('hex')}`;
  await kubectl(['create', 'secret', 'generic', 'tool-key', '-n', ns, `--from-literal=token=${toolKey}`]);
  await kubectl(['apply', '-f', '-'], {
    stdin: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'bench-tool-secrets', namespace: ns }, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['tool-key'], verbs: ['get'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'bench-tool-secrets-alice', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'bench-tool-secrets' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }] },
      ],
    }),
  });
  const stop: Array<() => void> = [() => destinations.child.kill('SIGTERM'), () => void mcp.close()];
  // BENCH_CONTROLLER_NODE_OPTIONS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the controller: the gateway.
  const controllerNodeOptions = process.env.BENCH_CONTROLLER_NODE_OPTIONS;
  const controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl'), args: ['--gateway-bind-address', '127.0.0.1:0', '--egress-hosts', path.join(dir, 'hosts')], ...(controllerNodeOptions ? { env: { NODE_OPTIONS: controllerNodeOptions } } : {}) });
  try {
    const gatewayUrl = String((await controller.waitForLog((l) => l.msg === 'model gateway listening')).url);
    await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${profileName}`]);
    // One binding and one running execution (its token) per upstream.
    const tokenFor = async (name: string, endpoint: string): Promise<string> => {
      await alice.request({
        method: 'POST',
        path: RESOURCES.ModelProviderBinding.apiPath(ns),
        body: {
          apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
          kind: 'ModelProviderBinding',
          metadata: { name, namespace: ns },
          spec: { profileRef: { name: profileName }, provider: 'openai-compatible', endpoint, model: 'test-model', credentialsSecretRef: { name: 'llm-key', key: 'apiKey' }, owner: 'alice', authority: authority('alice', ['agent_machine.model_provider.bind']) },
        },
      });
      await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', '-n', ns, `modelproviderbinding/${name}`]);
      await alice.request({
        method: 'POST',
        path: RESOURCES.LocalAgentExecution.apiPath(ns),
        body: {
          apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
          kind: 'LocalAgentExecution',
          metadata: { name, namespace: ns },
          spec: {
            profileRef: { name: profileName },
            authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run']),
            containers: [{ name: 'agent', image: sandboxImage(), command: ['sleep', '590'] }],
            modelProviderRef: { name },
            budget: { wallClockSeconds: 600 },
          },
        },
      });
      await eventually(`execution ${name} Running`, async () => (await getObject<any>('LocalAgentExecution', name, ns))?.status?.phase === 'Running', 60_000);
      return eventually(`token of ${name}`, async () => {
        try {
          const s = await admin.core.readNamespacedSecret({ name: `${name}-gateway-token`, namespace: ns });
          return Buffer.from(s.data!.token!, 'base64').toString();
        } catch {
          return undefined;
        }
      });
    };
    const token = await tokenFor('fast', upstream.url);
    const slowToken = await tokenFor('slow', slowUpstream.url);
    // Section 4's executions: one under the firewall profile (egress), one with both tools.
    for (const p of [fwProfile, toolProfile]) await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${p}`]);
    const grant = (name: string, tool: string, connector: object, actions?: string[]) => ({
      apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
      kind: 'ToolGrantRecord',
      metadata: { name, namespace: ns },
      spec: { profileRef: { name: toolProfile }, tool, ...(actions ? { actions } : {}), connector, authority: authority('alice', ['agent_machine.tool_grant.*', `tool:${tool}`]) },
    });
    for (const g of [
      grant('bench-api', 'bench.api', { endpoint: `${destinations.url}/api`, protocol: 'http', credentialsSecretRef: { name: 'tool-key', key: 'token' }, methods: ['GET'], paths: ['/repos/*/issues'] }),
      grant('bench-mcp', 'bench.mcp', { endpoint: mcp.url, protocol: 'mcp', credentialsSecretRef: { name: 'tool-key', key: 'token' } }, ['echo']),
    ]) {
      await alice.request({ method: 'POST', path: RESOURCES.ToolGrantRecord.apiPath(ns), body: g });
    }
    await eventually('grants Active', async () => {
      for (const g of ['bench-api', 'bench-mcp']) if ((await getObject<any>('ToolGrantRecord', g, ns))?.status?.state !== 'Active') return undefined;
      return true;
    }, 30_000);
    const runningToken = async (name: string, profile: string, extra: object): Promise<string> => {
      await alice.request({
        method: 'POST',
        path: RESOURCES.LocalAgentExecution.apiPath(ns),
        body: {
          apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
          kind: 'LocalAgentExecution',
          metadata: { name, namespace: ns },
          spec: {
            profileRef: { name: profile },
            authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run', 'tool:*']),
            containers: [{ name: 'agent', image: sandboxImage(), command: ['sleep', '590'] }],
            budget: { wallClockSeconds: 600, connectorCalls: BIG },
            ...extra,
          },
        },
      });
      await eventually(`execution ${name} Running`, async () => (await getObject<any>('LocalAgentExecution', name, ns))?.status?.phase === 'Running', 60_000);
      return eventually(`token of ${name}`, async () => {
        try {
          const s = await admin.core.readNamespacedSecret({ name: `${name}-gateway-token`, namespace: ns });
          return Buffer.from(s.data!.token!, 'base64').toString();
        } catch {
          return undefined;
        }
      });
    };
    const egressToken = await runningToken('egress', fwProfile, {});
    const toolsToken = await runningToken('tools', toolProfile, { tools: ['bench.api', 'bench.mcp'] });
    const direct = target(upstream.url, `Bearer ${key}`);
    const gateway = target(gatewayUrl, `Bearer ${token}`);
    const bareProxy = await startScript('./bare-proxy.ts', ['--upstream', upstream.url, '--api-key', key]);
    stop.push(() => bareProxy.child.kill('SIGTERM'));
    const bare = target(bareProxy.url, 'Bearer unused');
    const controllerPid = controller.child.pid!;
    const upstreamPid = upstream.child.pid!;

    if (PARTS.has('model')) {
      // Warm-up: JIT, connections, caches.
      await sequential(direct, 300);
      await sequential(gateway, 300);
      await throughput(direct, CONCURRENCY, 1000);
      await throughput(gateway, CONCURRENCY, 1000);
      await throughput(bare, CONCURRENCY, 1000);

      const d = await sequential(direct, SEQUENTIAL);
      const g = await sequential(gateway, SEQUENTIAL);
      const d50 = percentile(d, 50);
      const g50 = percentile(g, 50);
      const d99 = percentile(d, 99);
      const g99 = percentile(g, 99);
      console.log(`latency (1 client, ${SEQUENTIAL} sequential non-streaming chat completions each):`);
      console.log(`  direct  p50 ${d50.toFixed(3)} ms  p99 ${d99.toFixed(3)} ms`);
      console.log(`  gateway p50 ${g50.toFixed(3)} ms  p99 ${g99.toFixed(3)} ms`);
      console.log(`  added   p50 ${(g50 - d50).toFixed(3)} ms (target < 1 ms)  p99 ${(g99 - d99).toFixed(3)} ms`);

      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const rates: { direct: number[]; gateway: number[]; bare: number[] } = { direct: [], gateway: [], bare: [] };
      const cpu = { upstreamDirect: 0, upstreamViaGateway: 0, gateway: 0, directCalls: 0, gatewayCalls: 0, bare: 0, bareCalls: 0 };
      for (let r = 0; r < ROUNDS; r++) {
        let u0 = cpuSeconds(upstreamPid);
        let rate = await throughput(direct, CONCURRENCY, ROUND_MS);
        rates.direct.push(rate);
        cpu.upstreamDirect += cpuSeconds(upstreamPid) - u0;
        cpu.directCalls += lastCalls;
        u0 = cpuSeconds(upstreamPid);
        const g0 = cpuSeconds(controllerPid);
        rate = await throughput(gateway, CONCURRENCY, ROUND_MS);
        rates.gateway.push(rate);
        cpu.gateway += cpuSeconds(controllerPid) - g0;
        cpu.upstreamViaGateway += cpuSeconds(upstreamPid) - u0;
        cpu.gatewayCalls += lastCalls;
        const b0 = cpuSeconds(bareProxy.child.pid!);
        rates.bare.push(await throughput(bare, CONCURRENCY, ROUND_MS));
        cpu.bare += cpuSeconds(bareProxy.child.pid!) - b0;
        cpu.bareCalls += lastCalls;
      }
      const rd = mean(rates.direct);
      const rg = mean(rates.gateway);
      const us = (seconds: number, calls: number) => ((seconds / calls) * 1e6).toFixed(0);
      console.log(`throughput (${CONCURRENCY} concurrent keep-alive clients, ${ROUNDS} alternating rounds of ${ROUND_MS / 1000} s), instant upstream:`);
      console.log(`  direct  ${rd.toFixed(0)} req/s  (rounds ${rates.direct.map((x) => x.toFixed(0)).join(', ')})`);
      console.log(`  gateway ${rg.toFixed(0)} req/s  (rounds ${rates.gateway.map((x) => x.toFixed(0)).join(', ')})`);
      const rb = mean(rates.bare);
      console.log(`  bare Node proxy (no governance) ${rb.toFixed(0)} req/s  (rounds ${rates.bare.map((x) => x.toFixed(0)).join(', ')})`);
      console.log(`  ratio   gateway ${((rg / rd) * 100).toFixed(1)}% of direct (target ≥ 80%); bare proxy ${((rb / rd) * 100).toFixed(1)}% of direct; gateway ${((rg / rb) * 100).toFixed(1)}% of the bare proxy`);
      console.log(`  CPU per call: gateway (controller process) ${us(cpu.gateway, cpu.gatewayCalls)} µs, bare proxy ${us(cpu.bare, cpu.bareCalls)} µs; upstream ${us(cpu.upstreamDirect, cpu.directCalls)} µs direct, ${us(cpu.upstreamViaGateway, cpu.gatewayCalls)} µs via the gateway`);

      const slowDirect = target(slowUpstream.url, `Bearer ${key}`);
      const slowGateway = target(gatewayUrl, `Bearer ${slowToken}`);
      await throughput(slowGateway, CONCURRENCY, 1000);
      const slow = { direct: [] as number[], gateway: [] as number[] };
      for (let r = 0; r < ROUNDS; r++) {
        slow.direct.push(await throughput(slowDirect, CONCURRENCY, ROUND_MS));
        slow.gateway.push(await throughput(slowGateway, CONCURRENCY, ROUND_MS));
      }
      const sd = mean(slow.direct);
      const sg = mean(slow.gateway);
      console.log(`throughput, upstream answering in ${SLOW_MS} ms (${CONCURRENCY} clients): direct ${sd.toFixed(0)} req/s, gateway ${sg.toFixed(0)} req/s, ratio ${((sg / sd) * 100).toFixed(1)}%`);
    }

    // 4. Egress, connectors, MCP, each against a bare Node proxy in its own process.
    const gw = new URL(gatewayUrl);
    const bareTools = await startScript('./bare-proxy.ts', ['--upstream', destinations.url, '--api-key', toolKey, '--pass-headers', '--map', `allowed.test=127.0.0.1`]);
    stop.push(() => bareTools.child.kill('SIGTERM'));
    const bareMcp = await startScript('./bare-proxy.ts', ['--upstream', mcp.url, '--api-key', toolKey, '--pass-headers']);
    stop.push(() => bareMcp.child.kill('SIGTERM'));
    const bareToolsPort = Number(new URL(bareTools.url).port);
    const sequentialExtra = Math.min(SEQUENTIAL, 1000);
    if (PARTS.has('egress'))
      await compare(
      'egress: CONNECT + TLS handshake + one HTTPS GET, a new connection per call',
      { direct: tunnelCall(dest), gateway: tunnelCall(dest, { port: Number(gw.port), auth: `Bearer ${egressToken}` }), bare: tunnelCall(dest, { port: bareToolsPort }) },
      { gateway: controllerPid, bare: bareTools.child.pid! },
      sequentialExtra,
    );
    const toolsUrl = new URL(destinations.url);
    const keepAlive = () => new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    if (PARTS.has('connector'))
      await compare(
      'connector: GET /repos/acme/issues through /v1/tools/<tool>/… (credential injected)',
      {
        direct: httpCall(keepAlive(), toolsUrl.hostname, Number(toolsUrl.port), 'GET', '/api/repos/acme/issues?state=open', { authorization: `Bearer ${toolKey}` }),
        gateway: httpCall(keepAlive(), gw.hostname, Number(gw.port), 'GET', '/v1/tools/bench.api/repos/acme/issues?state=open', { authorization: `Bearer ${toolsToken}` }),
        bare: httpCall(keepAlive(), '127.0.0.1', bareToolsPort, 'GET', '/api/repos/acme/issues?state=open', {}),
      },
      { gateway: controllerPid, bare: bareTools.child.pid! },
      sequentialExtra,
    );
    const mcpPath = new URL(mcp.url).pathname;
    const sessions = { direct: await mcpSession(mcp.url, toolKey), gateway: await mcpSession(`${gatewayUrl}/v1/tools/bench.mcp`, toolsToken), bare: await mcpSession(`${bareMcp.url}${mcpPath}`, 'unused') };
    const granted = (await sessions.gateway.listTools()).tools.map((t) => t.name);
    if (granted.join(',') !== 'echo') throw new Error(`tools/list through the gateway should be filtered to echo, got ${granted.join(',')}`);
    if (PARTS.has('mcp'))
      await compare(
      'MCP: tools/call echo (MCP SDK client, Streamable HTTP, one session per path)',
      { direct: mcpEcho(sessions.direct), gateway: mcpEcho(sessions.gateway), bare: mcpEcho(sessions.bare) },
      { gateway: controllerPid, bare: bareMcp.child.pid! },
      sequentialExtra,
    );
    for (const c of Object.values(sessions)) await c.close();

    // The execution reconciler drops the gateway's counts from status while an execution runs;
    // they are written for good once it has finished.
    for (const name of ['fast', 'slow', 'egress', 'tools']) await alice.request({ method: 'PATCH', path: RESOURCES.LocalAgentExecution.apiPath(ns, name), body: { spec: { cancel: true } }, contentType: 'application/merge-patch+json' });
    if (PARTS.has('model')) {
      const used = await eventually('usage flushed', async () => {
        const u = (await getObject<any>('LocalAgentExecution', 'fast', ns))?.status;
        return u?.phase === 'Cancelled' && u.budget?.used?.modelCalls > 0 ? u.budget.used : undefined;
      }, 60_000);
      console.log(`counted in status.budget.used of the instant-upstream execution: modelCalls ${used.modelCalls}, tokens ${used.tokens}`);
    }
    if (!PARTS.has('connector') && !PARTS.has('mcp')) return;
    const toolsUsed = await eventually('connector usage flushed', async () => {
      const u = (await getObject<any>('LocalAgentExecution', 'tools', ns))?.status;
      return u?.phase === 'Cancelled' && u.budget?.used?.connectorCalls > 0 ? u.budget.used : undefined;
    }, 60_000);
    console.log(`counted in status.budget.used of the tools execution: connectorCalls ${toolsUsed.connectorCalls} (connector calls and MCP tools/call)`);
  } finally {
    for (const f of stop) f();
    await controller.kill('SIGTERM');
    upstream.child.kill('SIGTERM');
    slowUpstream.child.kill('SIGTERM');
  }
}

await main();
