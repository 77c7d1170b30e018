// The audit chain in the API server (immutable ConfigMap segments): acknowledged only once
// stored, continued by a new writer from the last segment, kept as one chain when two writers
// race (the API server refuses the second create of a segment), tamper-evident, held while
// the API server does not answer, and compacted into a checkpoint past its retention. Real
// kube-apiserver + etcd.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createKubeClients, type KubeClients } from '../../src/operator/kube-clients.ts';
import { ClusterAuditStore, listCheckpoints, listSegments, segmentName, verifySegments, verifyStored } from '../../src/governance/cluster-audit-store.ts';
import type { AuditRecord } from '../../src/governance/audit-log.ts';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { adminKubeConfig, kubeconfigPath, kubectl } from '../support/integration-env.ts';
import { createNamespace } from '../support/objects.ts';

const BIN = fileURLToPath(new URL('../../bin/agent-machine.js', import.meta.url));
let clients: KubeClients;
const record = (i: number, actor = 'alice'): AuditRecord => ({ operationType: 'agent_machine.tool_grant.apply', commandRef: `ns/g${i}`, object: { kind: 'ToolGrantRecord', namespace: 'ns', name: `g${i}` }, actor, outcome: 'allowed', reason: 'Active' });

before(() => {
  clients = createKubeClients(adminKubeConfig());
});

test('1,000 records: each acknowledged once its segment is stored; a new writer continues the same chain', async (t) => {
  const ns = await createNamespace('audit-store');
  const store = await ClusterAuditStore.open({ clients, namespace: ns, maxEntries: 200 });
  const started = performance.now();
  const acked = await Promise.all(Array.from({ length: 1000 }, (_, i) => store.append(record(i))));
  const ms = performance.now() - started;
  await store.close();
  assert.deepEqual(acked.map((e) => e.seq), Array.from({ length: 1000 }, (_, i) => i + 1));
  const segments = await listSegments(clients, ns);
  const bytes = segments.reduce((n, s) => n + (s.data?.['entries.jsonl']?.length ?? 0), 0);
  t.diagnostic(`1,000 records in ${segments.length} segments, ${ms.toFixed(0)} ms (${((1000 / ms) * 1000).toFixed(0)} records/s), ${(bytes / 1000).toFixed(0)} bytes of entries per record`);
  const v = verifySegments(segments);
  assert.deepEqual([v.ok, v.entries, v.head.hash], [true, 1000, acked.at(-1)!.hash]);

  const next = await ClusterAuditStore.open({ clients, namespace: ns });
  assert.equal(next.head().seq, 1000);
  // What a new leader reads back to know what its predecessor recorded: the newest entries.
  const newest = await next.recent(250);
  assert.deepEqual([newest.length, newest[0]!.seq, newest.at(-1)!.hash], [250, 751, acked.at(-1)!.hash]);
  const e = await next.append(record(1001));
  assert.deepEqual([e.seq, e.prevHash], [1001, acked.at(-1)!.hash]);
  await next.close();
  assert.equal(verifySegments(await listSegments(clients, ns)).entries, 1001);

  // The CLI reads the same chain: verify, and export as OCSF.
  const cli = (args: string[]) => new Promise<{ code: number; out: string; err: string }>((resolve) => execFile(process.execPath, [BIN, 'audit', ...args, '--cluster', '--namespace', ns, '--kubeconfig', kubeconfigPath()], { maxBuffer: 64 * 1024 * 1024 }, (e, out, err) => resolve({ code: e ? 1 : 0, out, err })));
  const verified = await cli(['verify']);
  assert.equal(verified.code, 0, verified.err);
  assert.match(verified.out, /chain intact, 1001 entries/);
  const exported = await cli(['export', '--format', 'ocsf']);
  assert.equal(exported.code, 0, exported.err);
  const events = exported.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(events.length, 1001);
  assert.deepEqual([events[0].class_uid, events[0].unmapped.seq, events.at(-1).unmapped.seq], [6003, 1, 1001]);
});

test('two writers racing (a failover): the API server refuses the second segment, the loser re-chains — one chain, nothing twice, nothing lost', async () => {
  const ns = await createNamespace('audit-race');
  const [a, b] = await Promise.all([ClusterAuditStore.open({ clients, namespace: ns }), ClusterAuditStore.open({ clients, namespace: ns })]);
  const [fromA, fromB] = await Promise.all([Promise.all(Array.from({ length: 50 }, (_, i) => a.append(record(i, 'a')))), Promise.all(Array.from({ length: 50 }, (_, i) => b.append(record(i, 'b'))))]);
  await Promise.all([a.close(), b.close()]);
  const v = verifySegments(await listSegments(clients, ns));
  assert.deepEqual([v.ok, v.entries], [true, 100]);
  const seqs = [...fromA, ...fromB].map((e) => e.seq).sort((x, y) => x - y);
  assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => i + 1), 'every acknowledged entry has its own place in the one chain');
});

test('tampering is detected (a segment deleted, or re-made with edited content), naming the first bad seq', async () => {
  const ns = await createNamespace('audit-tamper');
  const store = await ClusterAuditStore.open({ clients, namespace: ns, maxEntries: 10 });
  await Promise.all(Array.from({ length: 30 }, (_, i) => store.append(record(i))));
  await store.close();
  const segments = await listSegments(clients, ns);
  assert.equal(segments.length, 3);
  const second = segments.find((s) => s.metadata?.name === segmentName(11))!;
  // Immutable: an edit in place is refused by the API server; delete-and-recreate is the only way.
  const edit = await kubectl(['patch', 'configmap', segmentName(11), '-n', ns, '--type=merge', '-p', '{"data":{"entries.jsonl":"x\\n"}}'], { check: false });
  assert.notEqual(edit.code, 0, 'an immutable segment cannot be edited');
  await kubectl(['delete', 'configmap', segmentName(11), '-n', ns]);
  const gone = verifySegments(await listSegments(clients, ns));
  assert.deepEqual([gone.ok, gone.firstBadSeq], [false, 11]);
  await assert.rejects(ClusterAuditStore.open({ clients, namespace: ns }), /broken at seq 11/);
  // A leader that opened before the deletion reads the newest entries back across the gap: refused.
  await assert.rejects(ClusterAuditStore.openAt({ clients, namespace: ns }, store.head()).recent(30), /after seq 10 is not valid: prevHash/);
  const forged = { apiVersion: 'v1', kind: 'ConfigMap', immutable: true, metadata: { name: second.metadata!.name, namespace: ns, labels: second.metadata!.labels, annotations: second.metadata!.annotations }, data: { 'entries.jsonl': second.data!['entries.jsonl']!.replace('"actor":"alice"', '"actor":"mallory"') } };
  await kubectl(['create', '-f', '-'], { stdin: JSON.stringify(forged) });
  const edited = verifySegments(await listSegments(clients, ns));
  assert.deepEqual([edited.ok, edited.firstBadSeq], [false, 11]);
  assert.match(edited.problem!, /edited/);
});

test('the API server not answering: records are held (a backlog), none acknowledged while down, every acknowledged one stored once it answers', async () => {
  const ns = await createNamespace('audit-outage');
  let down = false;
  const backlog: number[] = [];
  // The real API server behind a switch: while down, every request fails as a refused connection does.
  const flaky: Pick<KubeClients, 'request'> = {
    request: (async (...args: Parameters<KubeClients['request']>) => {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return clients.request(...args);
    }) as KubeClients['request'],
  };
  const store = await ClusterAuditStore.open({ clients: flaky, namespace: ns, batchMs: 10, onBacklog: (n) => backlog.push(n) });
  const before = await Promise.all(Array.from({ length: 5 }, (_, i) => store.append(record(i))));
  down = true;
  let acknowledgedWhileDown = 0;
  const pending = Promise.all(Array.from({ length: 20 }, (_, i) => store.append(record(100 + i)).then((e) => (down && acknowledgedWhileDown++, e))));
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(Math.max(...backlog), 20, 'the backlog is counted');
  assert.equal(acknowledgedWhileDown, 0, 'nothing is acknowledged before it is stored');
  assert.equal((await listSegments(clients, ns)).length, 1, 'nothing more stored while down');
  down = false;
  const acked = [...before, ...(await pending)];
  await store.close();
  assert.equal(acked.length, 25);
  const stored = (await listSegments(clients, ns)).flatMap((s) => s.data!['entries.jsonl']!.trim().split('\n').map((l) => JSON.parse(l).hash as string));
  assert.deepEqual(new Set(stored), new Set(acked.map((e) => e.hash)), 'every acknowledged record is in the chain, and nothing else');
  assert.equal(verifySegments(await listSegments(clients, ns)).entries, 25);
  assert.equal(backlog.at(-1), 0, 'the backlog drains');
});

test('retention: old segments compacted into a sealed checkpoint; the chain verifies across it (CLI too); a new writer continues; tampering after it is named', async () => {
  const ns = await createNamespace('audit-retain');
  const compactions: unknown[] = [];
  const store = await ClusterAuditStore.open({ clients, namespace: ns, maxEntries: 100, retainEntries: 500, compactEvery: 300, onCompaction: (r) => compactions.push(r) });
  const acked = await Promise.all(Array.from({ length: 2000 }, (_, i) => store.append(record(i))));
  await store.close();
  const last = await store.compact();
  assert.ok(compactions.length > 0 && compactions.every((c) => !('error' in (c as object))), JSON.stringify(compactions));
  const checkpoints = await listCheckpoints(clients, ns);
  assert.equal(checkpoints.length, 1, 'older checkpoints are deleted');
  const segments = await listSegments(clients, ns);
  const kept = segments.reduce((n, s) => n + s.data!['entries.jsonl']!.trim().split('\n').length, 0);
  assert.ok(kept >= 500 && kept < 600, `${kept} entries kept in ${segments.length} segments (last compaction ${JSON.stringify(last)})`);
  const v = await verifyStored(clients, ns);
  assert.deepEqual([v.ok, v.entries, v.head.hash, v.checkpoint!.lastSeq], [true, 2000, acked.at(-1)!.hash, 2000 - kept]);

  const cli = (args: string[]) => new Promise<{ code: number; out: string; err: string }>((resolve) => execFile(process.execPath, [BIN, 'audit', ...args, '--cluster', '--namespace', ns, '--kubeconfig', kubeconfigPath()], { maxBuffer: 64 * 1024 * 1024 }, (e, out, err) => resolve({ code: e ? 1 : 0, out, err })));
  const ok = await cli(['verify']);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, new RegExp(`chain intact, 2000 entries \\(seq 1\\.\\.${2000 - kept} compacted`));
  const exported = (await cli(['export'])).out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual([exported.length, exported[0].seq], [kept, 2000 - kept + 1], 'the export starts after the checkpoint');

  const next = await ClusterAuditStore.open({ clients, namespace: ns });
  const e = await next.append(record(2001));
  await next.close();
  assert.deepEqual([e.seq, e.prevHash], [2001, acked.at(-1)!.hash]);

  // Reorder: two segments after the checkpoint re-made with each other's entries.
  const [a, b] = (await listSegments(clients, ns)).sort((x, y) => x.metadata!.name!.localeCompare(y.metadata!.name!));
  const remake = (name: string, from: typeof a) => ({ apiVersion: 'v1', kind: 'ConfigMap', immutable: true, metadata: { name, namespace: ns, labels: from!.metadata!.labels, annotations: from!.metadata!.annotations }, data: from!.data });
  await kubectl(['delete', 'configmap', a!.metadata!.name!, b!.metadata!.name!, '-n', ns]);
  await kubectl(['create', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [remake(a!.metadata!.name!, b), remake(b!.metadata!.name!, a)] }) });
  const reordered = await cli(['verify']);
  assert.equal(reordered.code, 1);
  assert.match(reordered.err, new RegExp(`chain BROKEN at seq ${2000 - kept + 1}:`));
  // The checkpoint deleted: the first segment left links to a head nobody vouches for.
  await kubectl(['delete', 'configmap', checkpoints[0]!.metadata!.name!, '-n', ns]);
  const noCheckpoint = await cli(['verify']);
  assert.equal(noCheckpoint.code, 1);
  assert.match(noCheckpoint.err, /chain BROKEN at seq 1:/);
});
