// Benchmark (prints figures, asserts nothing; no cluster): the gateway's own CPU per connector
// and MCP call, for profiling what `make bench-gateway` measures end to end. The gateway runs
// in this process with informer caches fed here, the real Authorizer (its access reviews, the
// admission-policy check and the namespace's tenant answered by stubs and kept by its caches as
// in the controller), the real credential cache and ledger; the tool API
// (test/support/tool-upstream.ts) and the real MCP server run in child processes, the clients
// in one more, so this process's CPU (process.cpuUsage) is the gateway's.
//   node test/bench/gateway-cpu.bench.ts            (BENCH_CALLS, BENCH_CONCURRENCY)
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
import { execution, gatewayCaches, grant } from '../unit/gateway/fixtures.ts';
import { startToolUpstream } from '../support/tool-upstream.ts';
import { startMcpEverything } from '../support/mcp-everything.ts';

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

if (process.argv[2] === '--upstream') {
  // Child: the tool API.
  const up = await startToolUpstream();
  process.send!({ url: up.url });
} else if (process.argv[2] === '--client') {
  // Child: the clients; told what to call, answers the calls per second.
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  process.on('message', async (m: { kind: 'http' | 'mcp'; url: string; token: string; calls: number }) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const u = new URL(m.url);
    let call: () => Promise<void>;
    const clients: InstanceType<typeof Client>[] = [];
    if (m.kind === 'http') {
      call = () =>
        new Promise((resolve, reject) => {
          const req = http.request({ agent, host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, headers: { authorization: `Bearer ${m.token}` } }, (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          });
          req.on('error', reject);
          req.end();
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
      readNamespacedSecret: async () => ({ data: { token: Buffer.from('tk-bench-0123456789abcdef').toString('base64') } }),
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
  });
  const gatewayUrl = (await server.listen('127.0.0.1', 0)).url;
  server.setActive(true);
  const script = fileURLToPath(import.meta.url);
  const upstreamChild = fork(script, ['--upstream']);
  const upstreamUrl = await new Promise<string>((resolve) => upstreamChild.once('message', (m: { url: string }) => resolve(m.url)));
  const mcp = await startMcpEverything();
  // A few hundred other grants in the cache, as a namespace with many agents would have.
  for (let i = 0; i < 300; i++) caches.grants.set(grant({ tool: `other.tool${i}`, connector: { endpoint: upstreamUrl, protocol: 'http' } }, 'Active', `other-${i}`));
  caches.grants.set(grant({ tool: 'bench.api', connector: { endpoint: `${upstreamUrl}/api`, protocol: 'http', credentialsSecretRef: { name: 'tool-key', key: 'token' }, methods: ['GET'], paths: ['/repos/*/issues'] } }, 'Active', 'bench-api'));
  caches.grants.set(grant({ tool: 'bench.mcp', actions: ['echo'], connector: { endpoint: mcp.url, protocol: 'mcp', credentialsSecretRef: { name: 'tool-key', key: 'token' } } }, 'Active', 'bench-mcp'));
  const BIG = 1_000_000_000;
  const ex = execution({ tools: ['bench.api', 'bench.mcp'], modelProviderRef: undefined }, { budget: { effective: { ...execution().status!.budget!.effective!, connectorCalls: BIG } as never } }, 'bench');
  caches.executions.set(ex);
  const token = mintToken();
  const secret = tokenSecretFor(ex, token);
  secret.metadata!.uid = 's-bench';
  caches.secrets.set(secret);

  const client = fork(script, ['--client']);
  await new Promise((resolve) => client.once('message', resolve));
  const run = (kind: 'http' | 'mcp', url: string, calls: number) =>
    new Promise<{ rate: number; us: number; system: number }>((resolve) => {
      const c0 = process.cpuUsage();
      client.once('message', (m: { rate: number }) => {
        const c = process.cpuUsage(c0);
        resolve({ rate: m.rate, us: (c.user + c.system) / calls, system: c.system / calls });
      });
      client.send({ kind, url, token, calls });
    });
  // The floor: a bare Node proxy (bare-proxy.ts, its own process) in front of the same tool API.
  const bare = spawn(process.execPath, [fileURLToPath(new URL('./bare-proxy.ts', import.meta.url)), '--upstream', upstreamUrl, '--api-key', 'unused', '--pass-headers'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: process.env.BENCH_BARE_NODE_OPTIONS ?? '' } });
  const bareUrl = await new Promise<string>((resolve) => bare.stdout!.once('data', (c: Buffer) => resolve(JSON.parse(c.toString().split('\n')[0]!).url)));
  const cpuOf = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
  };
  const runBare = (calls: number) =>
    new Promise<{ rate: number; us: number; system: number }>((resolve) => {
      const c0 = cpuOf(bare.pid!);
      client.once('message', (m: { rate: number }) => {
        const c = cpuOf(bare.pid!);
        resolve({ rate: m.rate, us: ((c.user + c.system - c0.user - c0.system) / calls) * 1e6, system: ((c.system - c0.system) / calls) * 1e6 });
      });
      client.send({ kind: 'http', url: `${bareUrl}/api/repos/acme/issues?state=open`, token, calls });
    });
  await runBare(2000);
  const connectorUrl = `${gatewayUrl}/v1/tools/bench.api/repos/acme/issues?state=open`;
  const mcpUrl = `${gatewayUrl}/v1/tools/bench.mcp`;
  await run('http', connectorUrl, 2000);
  await run('mcp', mcpUrl, 500);
  const h = await run('http', connectorUrl, CALLS);
  const b = await runBare(CALLS);
  console.log(`connector GET through /v1/tools/<tool>/… (${CALLS} calls, ${CONCURRENCY} clients): ${h.rate.toFixed(0)}/s, gateway CPU ${h.us.toFixed(0)} µs per call (${h.system.toFixed(0)} in the kernel); bare Node proxy ${b.rate.toFixed(0)}/s, ${b.us.toFixed(0)} µs per call (${b.system.toFixed(0)} in the kernel)`);
  const m = await run('mcp', mcpUrl, Math.floor(CALLS / 4));
  console.log(`MCP tools/call echo (${Math.floor(CALLS / 4)} calls, ${CONCURRENCY} sessions): ${m.rate.toFixed(0)}/s, gateway CPU ${m.us.toFixed(0)} µs per call (MCP session set-up excluded only by its share)`);
  client.kill();
  bare.kill('SIGTERM');
  upstreamChild.kill();
  await mcp.close();
  await server.close();
  celSandbox.close();
  caches.ledger.stop();
  process.exit(0);
}
