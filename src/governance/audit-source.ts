// Where a reader of the audit trail finds it: the file store's JSONL, or the cluster store's
// segments in a namespace. Readers (diagnostics bundles, `audit verify`) take the lines in chain
// order either way.
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { KubeClients } from '../operator/kube-clients.ts';
import { listSegments } from './cluster-audit-store.ts';

export type AuditSource = { kind: 'file'; path: string } | { kind: 'cluster'; clients: Pick<KubeClients, 'request'>; namespace: string };

export function describeSource(s: AuditSource): string {
  return s.kind === 'file' ? s.path : `the audit segments in namespace ${s.namespace}`;
}

/** Whether there is anything to read (a file store whose file does not exist yet has nothing). */
export function sourceExists(s: AuditSource): boolean {
  return s.kind === 'cluster' || existsSync(s.path);
}

/** The entries' JSON lines, in chain order (without newlines). */
export async function* auditLines(s: AuditSource): AsyncGenerator<string> {
  if (s.kind === 'file') {
    for await (const line of createInterface({ input: createReadStream(s.path, { encoding: 'utf8' }), crlfDelay: Infinity })) if (line !== '') yield line;
    return;
  }
  const segments = (await listSegments(s.clients, s.namespace)).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const seg of segments) for (const line of (seg.data?.['entries.jsonl'] ?? '').split('\n')) if (line !== '') yield line;
}
