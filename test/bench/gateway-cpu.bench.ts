// Benchmark (prints figures, asserts nothing; no cluster): the gateway's own CPU per connector,
// MCP and model call, for profiling what `make bench-gateway` measures end to end. The gateway runs
// in this process with informer caches fed here, the real Authorizer (its access reviews, the
// admission-policy check and the namespace's tenant answered by stubs and kept by its caches as
// in the controller), the real credential cache and ledger; the tool API
// (test/support/tool-upstream.ts), the model server (test/support/openai-test-server.ts) and the
// real MCP server run in child processes, the clients in one more, so this process's CPU
// (process.cpuUsage) is the gateway's. Each route is compared with a bare Node proxy
// (bare-proxy.ts, its own process) in front of the same upstream, in the same run.
//   node test/bench/gateway-cpu.bench.ts            (BENCH_CALLS, BENCH_CONCURRENCY,
//                                                    BENCH_PARTS=connector,mcp,model)
//   node --cpu-prof --cpu-prof-dir=/tmp/prof test/bench/gateway-cpu.bench.ts   (a profile of it)
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { KubeClients } from '../../src/operator/kube-clients.ts';
import { CelSandbox } from '../../src/governance/cel-sandbox.ts';
import { AccessReviewer } from '../../src/governance/access-review.ts';
import { AdmissionGuard } from '../../src/reconcilers/admission-guard.ts';
import { NamespaceTenants } from '../../src/reconcilers/namespace-tenants.ts';
import { Authorizer } from '../../src/reconcilers/authorization.ts';
import { GatewayServer } from '../../src/gateway/server.ts';
import { CredentialCache } from '../../src/gateway/credentials.ts';
import { mintToken, tokenSecretFor } from '../../src/gateway/tokens.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { ADMISSION_POLICY_NAME } from '../../src/reconcilers/admission-guard.ts';
import { binding, execution, gatewayCaches, grant } from '../unit/gateway/fixtures.ts';
import { startToolUpstream } from '../support/tool-upstream.ts';
import { startMcpEverything } from '../support/mcp-everything.ts';
import { startOpenAiTestServer } from '../support/openai-test-server.ts';
import { PromptMemory } from '../../src/gateway/prompt-memory.ts';

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'connector,mcp,model').split(','));
const MODEL_KEY = 'tk-bench-0123456789abcdef';
const CHAT = JSON.stringify({ model: 'test-model', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello to the benchmark, please.' }] });

if (process.argv[2] === '--upstream') {
  // Child: the tool API.
  const up = await startToolUpstream();
  const model = await startOpenAiTestServer({ apiKey: MODEL_KEY, record: false });
  process.send!({ url: up.url, modelUrl: model.url });
} else if (process.argv[2] === '--client') {
  // Child: the clients; told what to call, answers the calls per second.
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  process.on('message', async (m: { kind: 'http' | 'model' | 'mcp'; url: string; token: string; calls: number }) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const u = new URL(m.url);
    let call: () => Promise<void>;
    const clients: InstanceType<typeof Client>[] = [];
    if (m.kind === 'http' || m.kind === 'model') {
      const post = m.kind === 'model';
      const headers = post ? { authorization: `Bearer ${m.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(CHAT) } : { authorization: `Bearer ${m.token}` };
      call = () =>
        new Promise((resolve, reject) => {
          const req = http.request({ agent, host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: post ? 'POST' : 'GET', headers }, (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          });
          req.on('error', reject);
          req.end(post ? CHAT : undefined);
        });
    } else {
      for (let i = 0; i < CONCURRENCY; i++) {
        const c = new Client({ name: 'bench', version: '1' });
        await c.connect(new StreamableHTTPClientTransport(u, { requestInit: { headers: { authorization: `Bearer ${m.token}` } } }));
        clients.push(c);
      }
      let next = 0;
      call = async () => {
        const r = await clients[next++ % clients.length]!.callTool({ name: 'echo', arguments: { message: 'bench' } });
        if (r.isError) throw new Error('tools/call failed');
      };
    }
    let left = m.calls;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (left-- > 0) await call();
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    for (const c of clients) await c.close();
    agent.destroy();
    process.send!({ rate: m.calls / seconds });
  });
  process.send!({ ready: true });
} else {
  const allow = { status: { allowed: true } };
  const clients = {
    core: {
      readNamespacedSecret: async () => ({ data: { token: Buffer.from(MODEL_KEY).toString('base64'), apiKey: Buffer.from(MODEL_KEY).toString('base64') } }),
      readNamespace: async ({ name }: { name: string }) => ({ metadata: { name, labels: {} } }),
    },
    admissionRegistration: {
      readValidatingAdmissionPolicy: async () => ({ spec: { failurePolicy: 'Fail' } }),
      readValidatingAdmissionPolicyBinding: async () => ({ spec: { policyName: ADMISSION_POLICY_NAME, validationActions: ['Deny'] } }),
    },
    request: async () => ({}),
  } as unknown as KubeClients;
  const caches = gatewayCaches(clients);
  const authorizer = new Authorizer(new AdmissionGuard(clients), new AccessReviewer({ createSubjectAccessReview: async () => allow } as never), new NamespaceTenants(clients));
  const celSandbox = new CelSandbox();
  const server = new GatewayServer({
    tokens: caches.tokens,
    informers: { executions: caches.executions, bindings: caches.bindings, profiles: caches.profiles, grants: caches.grants },
    credentials: new CredentialCache(clients),
    ledger: caches.ledger,
    celSandbox,
    authority: { authorizer, recorder: caches.authority.recorder },
    logger: silentLogger(),
    // As the controller has it: forwarded prompts are remembered for the redactor.
    prompts: new PromptMemory(),
    // As the controller has it: every decision noted for the batched audit (records dropped here).
    audit: { append: async () => undefined } as never,
  });
  const gatewayUrl = (await server.listen('127.0.0.1', 0)).url;
  server.setActive(true);
  const script = fileURLToPath(import.meta.url);
  const upstreamChild = fork(script, ['--upstream']);
  const { url: upstreamUrl, modelUrl } = await new Promise<{ url: string; modelUrl: string }>((resolve) => upstreamChild.once('message', resolve));
  const mcp = await startMcpEverything();
  // A few hundred other grants in the cache, as a namespace with many agents would have.
  for (let i = 0; i < 300; i++) caches.grants.set(grant({ tool: `other.tool${i}`, connector: { endpoint: upstreamUrl, protocol: 'http' } }, 'Active', `other-${i}`));
  caches.grants.set(grant({ tool: 'bench.api', connector: { endpoint: `${upstreamUrl}/api`, protocol: 'http', credentialsSecretRef: { name: 'tool-key', key: 'token' }, methods: ['GET'], paths: ['/repos/*/issues'] } }, 'Active', 'bench-api'));
  caches.grants.set(grant({ tool: 'bench.mcp', actions: ['echo'], connector: { endpoint: mcp.url, protocol: 'mcp', credentialsSecretRef: { name: 'tool-key', key: 'token' } } }, 'Active', 'bench-mcp'));
  const BIG = 1_000_000_000;
  caches.bindings.set(binding({ endpoint: modelUrl, credentialsSecretRef: { name: 'llm-key', key: 'apiKey' } }, {}, 'bench-llm'));
  const ex = execution({ tools: ['bench.api', 'bench.mcp'], modelProviderRef: { name: 'bench-llm' } }, { budget: { effective: { ...execution().status!.budget!.effective!, connectorCalls: BIG, modelCalls: BIG, tokens: BIG } as never } }, 'bench');
  caches.executions.set(ex);
  const token = mintToken();
  const secret = tokenSecretFor(ex, token);
  secret.metadata!.uid = 's-bench';
  caches.secrets.set(secret);

  const client = fork(script, ['--client']);
  await new Promise((resolve) => client.once('message', resolve));
  const run = (kind: 'http' | 'model' | 'mcp', url: string, calls: number) =>
    new Promise<{ rate: number; us: number; system: number }>((resolve) => {
      const c0 = process.cpuUsage();
      client.once('message', (m: { rate: number }) => {
        const c = process.cpuUsage(c0);
        resolve({ rate: m.rate, us: (c.user + c.system) / calls, system: c.system / calls });
      });
      client.send({ kind, url, token, calls });
    });
  // The floor: a bare Node proxy (bare-proxy.ts, its own process) in front of the same tool API.
  const startBare = async (args: string[]) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./bare-proxy.ts', import.meta.url)), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: process.env.BENCH_BARE_NODE_OPTIONS ?? '' } });
    const url = await new Promise<string>((resolve) => child.stdout!.once('data', (c: Buffer) => resolve(JSON.parse(c.toString().split('\n')[0]!).url)));
    return { child, url };
  };
  const { child: bare, url: bareUrl } = await startBare(['--upstream', upstreamUrl, '--api-key', 'unused', '--pass-headers']);
  // The model-call floor: the bare proxy adds the provider key and passes the content type only.
  const { child: bareModel, url: bareModelUrl } = await startBare(['--upstream', modelUrl, '--api-key', MODEL_KEY]);
  const cpuOf = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
  };
  const runBare = (kind: 'http' | 'model', proxy: typeof bare, url: string, calls: number) =>
    new Promise<{ rate: number; us: number; system: number }>((resolve) => {
      const c0 = cpuOf(proxy.pid!);
      client.once('message', (m: { rate: number }) => {
        const c = cpuOf(proxy.pid!);
        resolve({ rate: m.rate, us: ((c.user + c.system - c0.user - c0.system) / calls) * 1e6, system: ((c.system - c0.system) / calls) * 1e6 });
      });
      client.send({ kind, url, token, calls });
    });
  const vs = (g: { rate: number; us: number; system: number }, b: { rate: number; us: number; system: number }) =>
    `${g.rate.toFixed(0)}/s, gateway CPU ${g.us.toFixed(0)} µs per call (${g.system.toFixed(0)} in the kernel); bare Node proxy ${b.rate.toFixed(0)}/s, ${b.us.toFixed(0)} µs per call (${b.system.toFixed(0)} in the kernel): CPU ×${(g.us / b.us).toFixed(2)} (target ≤ 1.2), throughput ${((g.rate / b.rate) * 100).toFixed(0)} % of the bare proxy (target ≥ 70 %)`;
  if (PARTS.has('connector')) {
    const bareToolUrl = `${bareUrl}/api/repos/acme/issues?state=open`;
    const connectorUrl = `${gatewayUrl}/v1/tools/bench.api/repos/acme/issues?state=open`;
    await runBare('http', bare, bareToolUrl, 2000);
    await run('http', connectorUrl, 2000);
    const h = await run('http', connectorUrl, CALLS);
    const b = await runBare('http', bare, bareToolUrl, CALLS);
    console.log(`connector GET through /v1/tools/<tool>/… (${CALLS} calls, ${CONCURRENCY} clients): ${vs(h, b)}`);
  }
  if (PARTS.has('model')) {
    const bareChatUrl = `${bareModelUrl}/v1/chat/completions`;
    const chatUrl = `${gatewayUrl}/v1/chat/completions`;
    await runBare('model', bareModel, bareChatUrl, 2000);
    await run('model', chatUrl, 2000);
    const g = await run('model', chatUrl, CALLS);
    const b = await runBare('model', bareModel, bareChatUrl, CALLS);
    console.log(`model call POST /v1/chat/completions (${CALLS} calls, ${CONCURRENCY} clients): ${vs(g, b)}`);
  }
  if (PARTS.has('mcp')) {
    const mcpUrl = `${gatewayUrl}/v1/tools/bench.mcp`;
    await run('mcp', mcpUrl, 500);
    const m = await run('mcp', mcpUrl, Math.floor(CALLS / 4));
    console.log(`MCP tools/call echo (${Math.floor(CALLS / 4)} calls, ${CONCURRENCY} sessions): ${m.rate.toFixed(0)}/s, gateway CPU ${m.us.toFixed(0)} µs per call (MCP session set-up excluded only by its share)`);
  }
  client.kill();
  bare.kill('SIGTERM');
  bareModel.kill('SIGTERM');
  upstreamChild.kill();
  await mcp.close();
  await server.close();
  celSandbox.close();
  caches.ledger.stop();
  process.exit(0);
}
