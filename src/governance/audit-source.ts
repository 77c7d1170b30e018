// Where a reader of the audit trail finds it: the file store's JSONL, or the cluster store's
// segments in a namespace. Readers (diagnostics bundles, `audit verify`) take the lines in chain
// order either way.
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { KubeClients } from '../operator/kube-clients.ts';
import type { AuditHead } from './audit-log.ts';
import { startOf } from './audit-checkpoint.ts';
import { latestCheckpoint, listCheckpoints, listSegments, segmentFirstSeq } from './cluster-audit-store.ts';

export type AuditSource = { kind: 'file'; path: string } | { kind: 'cluster'; clients: Pick<KubeClients, 'request'>; namespace: string };

export function describeSource(s: AuditSource): string {
  return s.kind === 'file' ? s.path : `the audit segments in namespace ${s.namespace}`;
}

/** Whether there is anything to read (a file store whose file does not exist yet has nothing). */
export function sourceExists(s: AuditSource): boolean {
  return s.kind === 'cluster' || existsSync(s.path);
}

/**
 * The entries' JSON lines, in chain order (without newlines). `onStart` learns, before the
 * first line, the head they continue: a retention checkpoint's (cluster), else the genesis.
 */
export async function* auditLines(s: AuditSource, onStart?: (head: AuditHead) => void): AsyncGenerator<string> {
  if (s.kind === 'file') {
    for await (const line of createInterface({ input: createReadStream(s.path, { encoding: 'utf8' }), crlfDelay: Infinity })) if (line !== '') yield line;
    return;
  }
  // Entries a checkpoint stands for are gone (retention); segments it covers but a cut-short compaction left are skipped.
  const checkpoint = latestCheckpoint(await listCheckpoints(s.clients, s.namespace)).checkpoint;
  onStart?.(startOf(checkpoint));
  const after = checkpoint?.lastSeq ?? 0;
  const segments = (await listSegments(s.clients, s.namespace)).filter((seg) => !(segmentFirstSeq(seg) <= after)).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const seg of segments) for (const line of (seg.data?.['entries.jsonl'] ?? '').split('\n')) if (line !== '') yield line;
}
