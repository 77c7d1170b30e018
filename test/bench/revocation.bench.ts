// Benchmark (prints figures, asserts nothing): how soon a revoked grant stops a running agent.
// One running execution (real controller process, real podman container) admitted with
// BENCH_REVOCATIONS tools, each under its own Active ToolGrantRecord. For each grant in turn:
//   t0        just before the revoking write (a merge patch spec.revoked, as alice)
//   watch     an informer-style watch on ToolGrantRecords, opened by this script, sees the
//             write: the floor any cache-driven check can reach (baseline, same run)
//   refused   the first /v1/tools/authorize call for that tool answered 403 authority_lost,
//             polled back to back on a keep-alive connection (each call resolution ~1 ms)
// p50 and p99 of refused − t0 next to watch − t0. The profile only refuses calls
// (onAuthorityLost: deny-calls), so one execution serves every revocation.
// Run: make bench-revocation
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { grantEditorRole, installApi } from '../support/install.ts';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import { kubeConfigFor, kubectl } from '../support/integration-env.ts';
import { startControllerProcess } from '../support/controller-process.ts';
import { createBenchProfile, percentile, runningExecution, watchRevocations } from './revocation-rig.ts';
import { authority, createNamespace, eventually, suffix } from '../support/objects.ts';
import { RESOURCES } from '../../src/api/resources.ts';

const REVOCATIONS = Math.max(20, Number(process.env.BENCH_REVOCATIONS ?? 24));
const BIG = 1_000_000_000;


function authorize(agent: http.Agent, gateway: URL, token: string, tool: string): Promise<{ status: number; reason?: string }> {
  const body = JSON.stringify({ tool });
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: gateway.hostname, port: Number(gateway.port), path: '/v1/tools/authorize', method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let reason: string | undefined;
          try {
            reason = JSON.parse(Buffer.concat(chunks).toString('utf8')).reason;
          } catch {
            reason = undefined;
          }
          resolve({ status: res.statusCode ?? 0, ...(reason ? { reason } : {}) });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  await installApi();
  const ns = await createNamespace('bench-revoke');
  await grantEditorRole('alice');
  await kubectl(['create', 'clusterrolebinding', 'bench-revoke-delegator-alice', '--clusterrole=agent-machine-delegator', '--user=alice'], { check: false });
  const alice = createKubeClients(kubeConfigFor('alice'));
  const id = suffix();
  const profileName = `bench-revoke-${id}`;
  const tools = Array.from({ length: REVOCATIONS }, (_, i) => `mcp.bench/tool-${i}`);
  await createBenchProfile(alice, profileName, BIG);
  const controller = await startControllerProcess({ auditLogPath: path.join(mkdtempSync(path.join(tmpdir(), 'am-bench-revoke-')), 'audit.jsonl'), args: ['--gateway-bind-address', '127.0.0.1:0', '-n', ns] });
  const seen = new Map<string, number>();
  let watch: AbortController | undefined;
  try {
    const gateway = new URL(String((await controller.waitForLog((l) => l.msg === 'model gateway listening')).url));
    await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${profileName}`]);
    const grantName = (i: number) => `grant-${i}`;
    await Promise.all(
      tools.map((tool, i) =>
        alice.request({
          method: 'POST',
          path: RESOURCES.ToolGrantRecord.apiPath(ns),
          body: {
            apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
            kind: 'ToolGrantRecord',
            metadata: { name: grantName(i), namespace: ns },
            spec: { profileRef: { name: profileName }, tool, authority: { ...authority('alice', ['agent_machine.tool_grant.*', `tool:${tool}`]), delegate: 'agent:bench' } },
          },
        }),
      ),
    );
    const token = await runningExecution(alice, ns, profileName, tools, tools.map((_, i) => grantName(i)), BIG);

    // The baseline: when a watch of ours sees each revoking write.
    watch = await watchRevocations(ns, seen);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (const tool of tools) {
      const ok = await authorize(agent, gateway, token, tool);
      if (ok.status !== 200) throw new Error(`${tool} is not allowed before its revocation: ${ok.status} ${ok.reason}`);
    }

    const refused: number[] = [];
    const watched: number[] = [];
    const callsBefore: number[] = [];
    for (let i = 0; i < tools.length; i++) {
      const t0 = performance.now();
      const write = alice.request({ method: 'PATCH', path: RESOURCES.ToolGrantRecord.apiPath(ns, grantName(i)), body: { spec: { revoked: true, revocationReason: 'bench' } }, contentType: 'application/merge-patch+json' });
      let calls = 0;
      let answer: { status: number; reason?: string };
      do {
        answer = await authorize(agent, gateway, token, tools[i]!);
        calls++;
        if (calls > 200_000) throw new Error(`${tools[i]} still allowed after ${calls} calls`);
      } while (answer.status === 200);
      const at = performance.now();
      if (answer.reason !== 'authority_lost') throw new Error(`${tools[i]} refused as ${answer.status} ${answer.reason}, not authority_lost`);
      await write;
      const w = await eventually(`watch saw ${grantName(i)}`, async () => seen.get(grantName(i)), 10_000);
      refused.push(at - t0);
      watched.push(w - t0);
      callsBefore.push(calls);
      // Let the controller's own reconciles of this write settle before the next one.
      await new Promise((r) => setTimeout(r, 100));
    }
    const f = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(1)} ms  p99 ${percentile(xs, 99).toFixed(1)} ms  (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;
    console.log(`revocation → first refused gateway call, ${tools.length} revocations of a running execution's grants:`);
    console.log(`  baseline: revoke write → seen by a watch   ${f(watched)}`);
    console.log(`  revoke write → first 403 authority_lost    ${f(refused)}`);
    const extra = refused.map((r, i) => r - watched[i]!);
    console.log(`  refused − watch, per revocation            p50 ${percentile(extra, 50).toFixed(1)} ms  p99 ${percentile(extra, 99).toFixed(1)} ms`);
    console.log(`  allowed calls polled per revocation before the refusal: median ${percentile(callsBefore, 50)}`);
    agent.destroy();
  } finally {
    watch?.abort();
    await controller.kill('SIGTERM');
  }
}

await main();
