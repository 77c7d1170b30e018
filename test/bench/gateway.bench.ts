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
// The gateway is the real controller process (token → execution → binding → profile from its
// informers, policy and budget on every call, usage counted and written to status in batches).
// On this 2-core machine client, gateway and upstream share the CPUs: the direct path runs two
// busy processes, the gateway path three, which bounds the throughput ratio (see the output).
// Run: make bench-gateway
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
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

const SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 4000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MiB = 1024 * 1024;
const BIG = 1_000_000_000;
const SLOW_MS = Number(process.env.BENCH_SLOW_MS ?? 20);

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
async function startScript(relative: string, args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL(relative, import.meta.url));
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)).url);
    });
    child.once('exit', (code) => reject(new Error(`upstream exited ${code}`)));
  });
  return { url, child };
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
  const stop: Array<() => void> = [];
  const controller = await startControllerProcess({ auditLogPath: path.join(mkdtempSync(path.join(tmpdir(), 'am-bench-gw-')), 'audit.jsonl'), args: ['--gateway-bind-address', '127.0.0.1:0'] });
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
    const direct = target(upstream.url, `Bearer ${key}`);
    const gateway = target(gatewayUrl, `Bearer ${token}`);
    const bareProxy = await startScript('./bare-proxy.ts', ['--upstream', upstream.url, '--api-key', key]);
    stop.push(() => bareProxy.child.kill('SIGTERM'));
    const bare = target(bareProxy.url, 'Bearer unused');
    const controllerPid = controller.child.pid!;
    const upstreamPid = upstream.child.pid!;

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

    // The execution reconciler drops the gateway's counts from status while an execution runs;
    // they are written for good once it has finished.
    for (const name of ['fast', 'slow']) await alice.request({ method: 'PATCH', path: RESOURCES.LocalAgentExecution.apiPath(ns, name), body: { spec: { cancel: true } }, contentType: 'application/merge-patch+json' });
    const used = await eventually('usage flushed', async () => {
      const u = (await getObject<any>('LocalAgentExecution', 'fast', ns))?.status;
      return u?.phase === 'Cancelled' && u.budget?.used?.modelCalls > 0 ? u.budget.used : undefined;
    }, 60_000);
    console.log(`counted in status.budget.used of the instant-upstream execution: modelCalls ${used.modelCalls}, tokens ${used.tokens}`);
  } finally {
    for (const f of stop) f();
    await controller.kill('SIGTERM');
    upstream.child.kill('SIGTERM');
    slowUpstream.child.kill('SIGTERM');
  }
}

await main();
