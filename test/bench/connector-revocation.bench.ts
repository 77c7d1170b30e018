// Benchmark (prints figures, asserts nothing): how soon a revoked connector grant stops an agent
// that uses it. One running execution (real controller process, real podman container) admitted
// with BENCH_REVOCATIONS MCP tools, each under its own Active ToolGrantRecord whose connector is
// the real MCP server (@modelcontextprotocol/server-everything). For each grant in turn an MCP
// session is opened through the gateway with its GET SSE stream, then:
//   t0        just before the revoking write (a merge patch spec.revoked, as alice)
//   watch     a watch on ToolGrantRecords opened by this script sees the write: the floor any
//             cache-driven check can reach (baseline, same run)
//   refused   the first POST tools/list through the connector answered 403 authority_lost,
//             polled back to back
//   closed    the open SSE stream through the connector ended
// p50 and p99 of each − t0. Run: make bench-connector-revocation
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { grantEditorRole, installApi } from '../support/install.ts';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import { kubeConfigFor, kubectl } from '../support/integration-env.ts';
import { startControllerProcess } from '../support/controller-process.ts';
import { createBenchProfile, percentile, runningExecution, watchRevocations } from './revocation-rig.ts';
import { authority, createNamespace, eventually, suffix } from '../support/objects.ts';
import { startMcpEverything } from '../support/mcp-everything.ts';
import { RESOURCES } from '../../src/api/resources.ts';

const REVOCATIONS = Math.max(20, Number(process.env.BENCH_REVOCATIONS ?? 24));
const BIG = 1_000_000_000;


async function main(): Promise<void> {
  await installApi();
  const ns = await createNamespace('bench-conn-revoke');
  await grantEditorRole('alice');
  await kubectl(['create', 'clusterrolebinding', 'bench-revoke-delegator-alice', '--clusterrole=agent-machine-delegator', '--user=alice'], { check: false });
  const alice = createKubeClients(kubeConfigFor('alice'));
  const id = suffix();
  const profileName = `bench-conn-revoke-${id}`;
  const tools = Array.from({ length: REVOCATIONS }, (_, i) => `mcp.bench-${i}`);
  const mcp = await startMcpEverything();
  await createBenchProfile(alice, profileName, BIG);
  const controller = await startControllerProcess({ auditLogPath: path.join(mkdtempSync(path.join(tmpdir(), 'am-bench-conn-revoke-')), 'audit.jsonl'), args: ['--gateway-bind-address', '127.0.0.1:0', '-n', ns] });
  const seen = new Map<string, number>();
  let watch: AbortController | undefined;
  try {
    const gateway = String((await controller.waitForLog((l) => l.msg === 'model gateway listening')).url);
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
            spec: { profileRef: { name: profileName }, tool, actions: ['echo'], connector: { endpoint: mcp.url, protocol: 'mcp' }, authority: { ...authority('alice', ['agent_machine.tool_grant.*', `tool:${tool}`]), delegate: 'agent:bench' } },
          },
        }),
      ),
    );
    const token = await runningExecution(alice, ns, profileName, tools, tools.map((_, i) => grantName(i)), BIG);
    watch = await watchRevocations(ns, seen);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const post = (tool: string, session: string | undefined, body: unknown) => fetch(`${gateway}/v1/tools/${tool}`, { method: 'POST', headers: { ...headers, ...(session ? { 'mcp-session-id': session } : {}) }, body: JSON.stringify(body) });

    const refused: number[] = [];
    const closed: number[] = [];
    const watched: number[] = [];
    for (let i = 0; i < tools.length; i++) {
      const tool = tools[i]!;
      const init = await post(tool, undefined, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
      const session = init.headers.get('mcp-session-id') ?? undefined;
      await init.text();
      if (!session) throw new Error(`no MCP session through ${tool}: ${init.status}`);
      const sse = await fetch(`${gateway}/v1/tools/${tool}`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'mcp-session-id': session } });
      if (sse.status !== 200) throw new Error(`GET stream through ${tool}: ${sse.status}`);
      const reader = sse.body!.getReader();
      let closedAt = 0;
      const ended = (async () => {
        try {
          while (!(await reader.read()).done);
        } catch {
          // destroyed: ended too
        }
        closedAt = performance.now();
      })();
      const ok = await post(tool, session, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
      await ok.text();
      if (ok.status !== 200) throw new Error(`${tool} refused before its revocation: ${ok.status}`);

      const t0 = performance.now();
      const write = alice.request({ method: 'PATCH', path: RESOURCES.ToolGrantRecord.apiPath(ns, grantName(i)), body: { spec: { revoked: true, revocationReason: 'bench' } }, contentType: 'application/merge-patch+json' });
      let r: Response;
      let polls = 0;
      for (;;) {
        r = await post(tool, session, { jsonrpc: '2.0', id: 3, method: 'tools/list' });
        await r.text();
        if (r.status !== 200) break;
        if (++polls > 100_000) throw new Error(`${tool} still allowed after ${polls} calls`);
      }
      const at = performance.now();
      if (r.status !== 403) throw new Error(`${tool} refused with ${r.status}, not 403`);
      await write;
      await Promise.race([ended, new Promise((res) => setTimeout(res, 10_000))]);
      if (!closedAt) throw new Error(`the SSE stream through ${tool} was not ended within 10 s`);
      const w = await eventually(`watch saw ${grantName(i)}`, async () => seen.get(grantName(i)), 10_000);
      refused.push(at - t0);
      closed.push(closedAt - t0);
      watched.push(w - t0);
      await new Promise((res) => setTimeout(res, 100));
    }
    const f = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(1)} ms  p99 ${percentile(xs, 99).toFixed(1)} ms  (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;
    console.log(`connector revocation, ${tools.length} revocations of a running execution's MCP connector grants:`);
    console.log(`  baseline: revoke write → seen by a watch        ${f(watched)}`);
    console.log(`  revoke write → first 403 through the connector  ${f(refused)}`);
    console.log(`  revoke write → open MCP SSE stream ended        ${f(closed)}`);
  } finally {
    watch?.abort();
    await controller.kill('SIGTERM');
    await mcp.close();
  }
}

await main();
