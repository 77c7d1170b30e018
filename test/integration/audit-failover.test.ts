// The fault test of the cluster audit store (issue 18): two real controller replicas (leader
// election, --audit-store cluster) while N grant/revoke commands and N gateway tool decisions
// run and the leader is SIGKILLed at seeded random points (and restarted: two replicas again).
// Afterwards:
//   - every acknowledged command (its status shows the new state, which is written only after
//     its audit record is stored) has its record in the chain;
//   - the chain verifies end to end as one chain (seqs unique and consecutive);
//   - no command is recorded twice, not even one whose record the killed leader stored without
//     its status write: the next leader reads the chain's newest entries back and finds that
//     decision (same object version, operation, outcome, reason) already recorded;
//   - gateway decisions (batched, every 5 s) are never counted twice, and every call the last
//     leader answered is in the trail (it stopped with SIGTERM, which writes its batch): a
//     SIGKILLed leader's last batch interval is lost by design, and was never acknowledged.
// N: AUDIT_FAULT_N (default 1,000: about 70 s here). The seed is printed; AUDIT_FAULT_SEED
// replays a run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RESOURCES } from '../../src/api/resources.ts';
import { createKubeClients, type KubeClients } from '../../src/operator/kube-clients.ts';
import { listSegments, verifyStored } from '../../src/governance/cluster-audit-store.ts';
import type { AuditEntry } from '../../src/governance/audit-log.ts';
import { bindDelegatorRole, grantEditorRole, installApi, revokeEditorRole } from '../support/install.ts';
import { kubeConfigFor, kubectl } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createNamespace, eventually, suffix } from '../support/objects.ts';
import { mulberry32 } from '../support/prng.ts';
import { createBenchProfile, runningExecution } from '../bench/revocation-rig.ts';

const N = Number(process.env.AUDIT_FAULT_N ?? 1000);
const SEED = Number(process.env.AUDIT_FAULT_SEED ?? Date.now() % 1_000_000);
const KILLS = 3;
const CHUNK = 25;
const BIG = 1_000_000_000;
const FAST = ['--leader-elect-lease-duration', '3', '--leader-elect-renew-deadline', '2', '--leader-elect-retry-period', '0.5'];

const dir = mkdtempSync(path.join(tmpdir(), 'am-audit-failover-'));
const id = suffix();
const PROFILE = `audit-fo-${id}`;
const TOOL = `mcp.audit-fo-${id}`;
let ns = '';
let auditNs = '';
let alice: KubeClients;
const replicas: ControllerProcess[] = [];

async function replica(): Promise<ControllerProcess> {
  const c = await startControllerProcess({ auditLogPath: path.join(dir, `unused-${replicas.length}.jsonl`), leaderElect: true, args: [...FAST, '--leader-election-namespace', auditNs, '--audit-store', 'cluster', '--gateway-bind-address', '127.0.0.1:0', '-n', ns] });
  replicas.push(c);
  return c;
}

const alive = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
const gatewayOf = (c: ControllerProcess) => c.logs.find((l) => l.msg === 'model gateway listening')?.url as string | undefined;

function grantBody(name: string) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ToolGrantRecord',
    metadata: { name, namespace: ns },
    spec: { profileRef: { name: PROFILE }, tool: TOOL, authority: { ...authority('alice', ['agent_machine.tool_grant.*', `tool:${TOOL}`]), delegate: 'agent:bench' } },
  };
}

async function states(): Promise<Map<string, { uid: string; state?: string }>> {
  const list = await admin.request<{ items: any[] }>({ method: 'GET', path: RESOURCES.ToolGrantRecord.apiPath(ns) });
  return new Map(list.items.map((g) => [g.metadata.name, { uid: g.metadata.uid, state: g.status?.state }]));
}

function authorize(gateway: string, token: string): Promise<number> {
  const u = new URL(gateway);
  const body = JSON.stringify({ tool: TOOL });
  return new Promise((resolve) => {
    const req = http.request({ host: u.hostname, port: Number(u.port), path: '/v1/tools/authorize', method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

before(async () => {
  await installApi();
  ns = await createNamespace('audit-fo');
  auditNs = await createNamespace('audit-fo-system');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  alice = createKubeClients(kubeConfigFor('alice'));
  await createBenchProfile(alice, PROFILE, BIG);
});

after(async () => {
  await Promise.all(replicas.map((r) => r.kill('SIGKILL')));
  await revokeEditorRole('alice');
});

test(`failover under load: ${N} grant/revoke commands and ${N} gateway calls, the leader SIGKILLed ${KILLS} times — nothing acknowledged lost, one chain, no seq twice, no command twice`, async (t) => {
  const random = mulberry32(SEED);
  t.diagnostic(`seed ${SEED} (AUDIT_FAULT_SEED replays it)`);
  const first = await replica();
  await first.waitForLog((l) => l.msg === 'controllers started');
  await replica();
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${PROFILE}`]);
  assert.equal((await alice.request({ method: 'POST', path: RESOURCES.ToolGrantRecord.apiPath(ns), body: grantBody('exec-grant') }).then(() => 0)), 0);
  const token = await runningExecution(alice, ns, PROFILE, [TOOL], ['exec-grant'], BIG);

  // The kill points: after these commands (seeded), spread over the middle of the run.
  const grants = Math.ceil(N / 2);
  const killAfter = new Set(Array.from({ length: KILLS }, () => Math.floor(N * (0.15 + 0.7 * random()))));
  const kills: number[] = [];
  let commands = 0;
  const leaderNow = () => alive().filter((r) => r.logs.some((l) => l.msg === 'controllers started')).at(-1);
  const killLeader = async () => {
    // Two kill points close together: the standby may not lead yet. Wait for it, so every seeded
    // kill lands on a leader (a busy machine takes over more slowly, not differently).
    await eventually('a leader to kill', async () => leaderNow() !== undefined, 60_000, 50);
    const leader = leaderNow()!;
    kills.push(Date.now());
    await leader.kill('SIGKILL');
    await replica();
  };
  const commanded = async (n: number) => {
    for (let i = 0; i < n; i++) if (killAfter.has(++commands)) await killLeader();
  };

  // Gateway calls, alongside and paced with the commands (so kills fall among them too): to
  // whichever replica answers (the Service selects the leader).
  const answered: { at: number }[] = [];
  let stop = false;
  let allCommanded = false;
  const caller = (async () => {
    while (!stop && answered.length < N) {
      if (!allCommanded && answered.length >= commands + 5) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      let ok = false;
      for (const r of alive()) {
        const url = gatewayOf(r);
        if (url && (await authorize(url, token)) === 200) {
          answered.push({ at: Date.now() });
          ok = true;
          break;
        }
      }
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const started = performance.now();
  for (let from = 0; from < grants; from += CHUNK) {
    const names = Array.from({ length: Math.min(CHUNK, grants - from) }, (_, i) => `g-${from + i}`);
    await Promise.all(names.map((name) => alice.request({ method: 'POST', path: RESOURCES.ToolGrantRecord.apiPath(ns), body: grantBody(name) })));
    await commanded(names.length);
    await eventually(`${names.length} grants Active`, async () => {
      const s = await states();
      return names.every((n) => s.get(n)?.state === 'Active');
    }, 120_000, 250);
    await Promise.all(names.map((name) => alice.request({ method: 'PATCH', path: `${RESOURCES.ToolGrantRecord.apiPath(ns)}/${name}`, contentType: 'application/merge-patch+json', body: { spec: { revoked: true, revocationReason: 'fault test' } } })));
    await commanded(names.length);
    await eventually(`${names.length} grants Revoked`, async () => {
      const s = await states();
      return names.every((n) => s.get(n)?.state === 'Revoked');
    }, 120_000, 250);
  }
  allCommanded = true;
  await eventually(`${N} gateway calls answered`, async () => answered.length >= N, 120_000, 250);
  stop = true;
  await caller;
  // The last leader stops gracefully: its batch of gateway decisions is written.
  const lastKill = Math.max(...kills);
  await Promise.all(alive().map((r) => r.kill('SIGTERM')));
  t.diagnostic(`${commands} commands and ${answered.length} gateway calls in ${((performance.now() - started) / 1000).toFixed(1)} s; ${kills.length} kills`);
  assert.equal(kills.length, killAfter.size, 'every kill happened');

  // One chain, end to end.
  const v = await verifyStored(admin, auditNs);
  assert.ok(v.ok, `chain broken at seq ${v.firstBadSeq}: ${v.problem}`);
  const entries = (await listSegments(admin, auditNs)).flatMap((s) => s.data!['entries.jsonl']!.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry));
  assert.equal(new Set(entries.map((e) => e.seq)).size, entries.length, 'no seq twice');
  assert.equal(entries.length, v.entries);

  // Every acknowledged command (the status shows it) has its record.
  const final = await states();
  const recorded = new Map<string, AuditEntry[]>();
  for (const e of entries) {
    if (!e.object.uid || !e.operationType.startsWith('agent_machine.tool_grant.')) continue;
    const key = `${e.object.uid} ${e.operationType} ${e.outcome}`;
    recorded.set(key, [...(recorded.get(key) ?? []), e]);
  }
  let missing = 0;
  for (let i = 0; i < grants; i++) {
    const g = final.get(`g-${i}`)!;
    assert.equal(g.state, 'Revoked');
    if (!recorded.has(`${g.uid} agent_machine.tool_grant.apply allowed`)) missing++;
    if (![...recorded.keys()].some((k) => k.startsWith(`${g.uid} agent_machine.tool_grant.revoke`))) missing++;
  }
  assert.equal(missing, 0, 'every acknowledged command is in the chain');

  // Once each, across kills too.
  const twice = [...recorded.values()].filter((list) => list.length > 1);
  assert.deepEqual(twice.map((list) => list.map((e) => [e.seq, e.at, e.object.name, e.object.resourceVersion, e.operationType])), [], 'no command recorded twice');
  const kinds = new Set(entries.filter((e) => e.object.uid && e.operationType.startsWith('agent_machine.tool_grant.')).map((e) => e.object.resourceVersion !== undefined));
  assert.deepEqual([...kinds], [true], 'every command names the object version it was decided on');
  t.diagnostic(`${entries.length} entries; every command recorded once`);

  // Gateway decisions: never more than were answered; every call of the last leader is there.
  const allowed = entries.filter((e) => e.calls && e.outcome === 'allowed').flatMap((e) => e.calls!.filter((c) => c.kind === 'tool' && c.target === TOOL).map((c) => ({ at: Date.parse(e.at), calls: c.calls })));
  const audited = allowed.reduce((n, x) => n + x.calls, 0);
  assert.ok(audited <= answered.length, `${audited} audited, ${answered.length} answered`);
  const lastLeaderAudited = allowed.filter((x) => x.at > lastKill).reduce((n, x) => n + x.calls, 0);
  const lastLeaderAnswered = answered.filter((a) => a.at > lastKill).length;
  assert.ok(lastLeaderAnswered > 0, 'the last leader answered calls');
  assert.equal(lastLeaderAudited, lastLeaderAnswered, 'every call the last leader answered is audited');
  t.diagnostic(`gateway: ${answered.length} calls answered, ${audited} audited (the rest answered by a leader killed within its 5 s batch interval)`);
});
