// Benchmark (prints figures, asserts nothing): the cluster audit store (immutable ConfigMap
// segments in the local API server + etcd) against the file store (JSONL, fdatasync) in the
// same run, on records shaped like a grant command's:
//   throughput   N records appended at once, until the last is acknowledged: records/s
//   latency      32 writers, each appending and awaiting its record before the next (what a
//                status write waits for its audit record): p50/p99
//   etcd bytes   the segments' values as etcd stores them (kv/range over the namespace's
//                ConfigMaps): bytes per record and per 10,000; and after compaction into a
//                checkpoint (retention), what stays
//   read back    the newest 10,000 entries (what a new leader reads once before its first
//                record, so it does not record its predecessor's decisions again)
// Run: make bench-audit   (BENCH_RECORDS=N, default 10,000)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import { AuditLog, type AuditRecord } from '../../src/governance/audit-log.ts';
import type { AuditStore } from '../../src/governance/audit-store.ts';
import { ClusterAuditStore } from '../../src/governance/cluster-audit-store.ts';
import { adminKubeConfig, controlPlaneParts } from '../support/integration-env.ts';
import { createNamespace } from '../support/objects.ts';
import { percentile } from './revocation-rig.ts';

const N = Number(process.env.BENCH_RECORDS ?? 10_000);
const WRITERS = 32;
const PER_WRITER = Math.max(1, Math.floor(Math.min(N, 3_200) / WRITERS));
const clients = createKubeClients(adminKubeConfig());

const record = (i: number): AuditRecord => ({
  operationType: 'agent_machine.tool_grant.apply',
  commandRef: `team-a/grant-${i}/apply`,
  object: { kind: 'ToolGrantRecord', namespace: 'team-a', name: `grant-${i}`, uid: `5f0c${String(i).padStart(8, '0')}-aaaa-bbbb-cccc-0123456789ab` },
  actor: 'alice@example.com',
  delegate: 'agent:issue-triage',
  outcome: 'allowed',
  reason: 'Active: the grant is within the profile and the delegation',
  decisions: [{ gate: 'policy', rule: 'builtin', allowed: true, message: 'tool allowed by the profile' }],
});

async function throughput(store: AuditStore): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: N }, (_, i) => store.append(record(i))));
  return (N / (performance.now() - t0)) * 1000;
}

const RECALL = 10_000;

async function readBack(store: AuditStore): Promise<{ ms: number; entries: number }> {
  const t0 = performance.now();
  const entries = (await store.recent(RECALL)).length;
  return { ms: performance.now() - t0, entries };
}

async function latencies(store: AuditStore, offset: number): Promise<number[]> {
  const out: number[] = [];
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < PER_WRITER; i++) {
        const t0 = performance.now();
        await store.append(record(offset + w * PER_WRITER + i));
        out.push(performance.now() - t0);
      }
    }),
  );
  return out;
}

/** Bytes etcd holds for the namespace's ConfigMaps (keys and values, as the API server stored them). */
async function etcdBytes(ns: string): Promise<{ bytes: number; objects: number }> {
  const prefix = `/registry/configmaps/${ns}/`;
  const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
  const res = await fetch(`${controlPlaneParts().etcdUrl}/v3/kv/range`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: Buffer.from(prefix).toString('base64'), range_end: Buffer.from(end).toString('base64') }) });
  const body = (await res.json()) as { kvs?: { key: string; value: string }[] };
  const kvs = (body.kvs ?? []).filter((kv) => Buffer.from(kv.key, 'base64').toString().includes('agent-machine-audit-'));
  return { bytes: kvs.reduce((n, kv) => n + Buffer.from(kv.key, 'base64').length + Buffer.from(kv.value, 'base64').length, 0), objects: kvs.length };
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'audit-bench-'));
  try {
    const file = await AuditLog.open(path.join(dir, 'audit.jsonl'));
    const fileRate = await throughput(file);
    const fileLat = await latencies(file, N);
    const fileRead = await readBack(file);
    await file.close();

    const ns = await createNamespace('audit-bench');
    const cluster = await ClusterAuditStore.open({ clients, namespace: ns });
    const clusterRate = await throughput(cluster);
    const stored = await etcdBytes(ns);
    const clusterLat = await latencies(cluster, N);
    const clusterRead = await readBack(cluster);
    await cluster.close();

    const retainNs = await createNamespace('audit-bench-retain');
    const retained = await ClusterAuditStore.open({ clients, namespace: retainNs, retainEntries: 1_000 });
    await Promise.all(Array.from({ length: N }, (_, i) => retained.append(record(i))));
    await retained.close();
    await retained.compact();
    const after = await etcdBytes(retainNs);

    const p = (xs: number[], q: number) => percentile(xs, q);
    console.log(`audit stores, ${fmt(N)} records (a grant command's record), the same run:`);
    console.log(`  throughput (all at once)     file ${fmt(fileRate)} records/s | cluster ${fmt(clusterRate)} records/s (${fmt(clusterRate / fileRate, 2)}× the file store)`);
    console.log(`  append → acknowledged, ${WRITERS} writers × ${PER_WRITER}:`);
    console.log(`    file     p50 ${fmt(p(fileLat, 50), 1)} ms  p99 ${fmt(p(fileLat, 99), 1)} ms`);
    console.log(`    cluster  p50 ${fmt(p(clusterLat, 50), 1)} ms  p99 ${fmt(p(clusterLat, 99), 1)} ms (${fmt(p(clusterLat, 50) / p(fileLat, 50), 1)}× / ${fmt(p(clusterLat, 99) / p(fileLat, 99), 1)}× the file store; the batch window is 50 ms)`);
    console.log(`  read back the newest ${fmt(RECALL)} (a new leader, once): file ${fmt(fileRead.entries)} entries in ${fmt(fileRead.ms)} ms | cluster ${fmt(clusterRead.entries)} in ${fmt(clusterRead.ms)} ms (${fmt(clusterRead.ms / fileRead.ms, 1)}× the file store)`);
    console.log(`  etcd: ${fmt(stored.bytes)} bytes in ${stored.objects} segments = ${fmt(stored.bytes / N)} bytes/record, ${fmt((stored.bytes / N) * 10_000 / 1e6, 2)} MB per 10,000 records`);
    console.log(`  with --audit-retain-entries 1000: ${fmt(after.bytes)} bytes in ${after.objects} objects (segments + 1 checkpoint) after ${fmt(N)} records (${fmt(after.bytes / stored.bytes * 100, 1)}% of keeping all)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
