// The audit chain kept by the API server: entries batched into immutable ConfigMaps (segments)
// in the controller's namespace, each named after its first sequence number, so two writers
// can never both store the same part of the chain — the API server refuses the second create
// (409), and the loser re-reads the head and chains its unacknowledged entries after it. A
// record is acknowledged only once its segment is stored; while the API server does not
// answer, entries wait (bounded; beyond the bound appends are refused) and are retried.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { GENESIS_HASH, AuditLogError, canonicalJson, entryFor, invalidRecord, lineProblem, type AuditEntry, type AuditHead, type AuditRecord } from './audit-log.ts';
import type { AuditStore } from './audit-store.ts';
import type { KubeClients } from '../operator/kube-clients.ts';
import { isConflict } from '../operator/kube-clients.ts';

export const SEGMENT_LABEL = 'agentmachine.sourceos.dev/audit-segment';
const FIRST = 'agentmachine.sourceos.dev/first-seq';
const LAST = 'agentmachine.sourceos.dev/last-seq';
const KEY = 'entries.jsonl';

export interface ClusterAuditStoreOptions {
  clients: Pick<KubeClients, 'request'>;
  namespace: string;
  /** Most entries per segment (default 500); a segment also stays under ~900 KB. */
  maxEntries?: number;
  /** How long entries wait to share a segment (default 50 ms): the write latency floor. */
  batchMs?: number;
  /** Most entries held while the API server does not answer (default 10,000). */
  maxPending?: number;
  clock?: () => Date;
  /** Told how many entries wait for a segment, after every change (a metric). */
  onBacklog?: (pending: number) => void;
}

type Pending = { record: AuditRecord; entry: AuditEntry; resolve: (e: AuditEntry) => void; reject: (e: Error) => void };

export function segmentName(firstSeq: number): string {
  return `agent-machine-audit-${String(firstSeq).padStart(12, '0')}`;
}

/** The segment ConfigMap holding these entries (consecutive, non-empty). */
export function segmentFor(namespace: string, entries: readonly AuditEntry[]): V1ConfigMap {
  const first = entries[0]!.seq;
  const last = entries.at(-1)!.seq;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: segmentName(first), namespace, labels: { [SEGMENT_LABEL]: 'true', 'app.kubernetes.io/part-of': 'agent-machine' }, annotations: { [FIRST]: String(first), [LAST]: String(last) } },
    immutable: true,
    data: { [KEY]: entries.map((e) => `${canonicalJson(e)}\n`).join('') },
  };
}

export type SegmentVerification = { ok: boolean; entries: number; head: AuditHead; firstBadSeq?: number; problem?: string };

/** Walks the chain across segments in order: any edit, deletion, insertion or reordering breaks it. */
export function verifySegments(segments: readonly V1ConfigMap[]): SegmentVerification {
  let previous: AuditHead = { seq: 0, hash: GENESIS_HASH };
  let count = 0;
  const sorted = [...segments].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const s of sorted) {
    const lines = (s.data?.[KEY] ?? '').split('\n');
    if (lines.at(-1) !== '') return { ok: false, entries: count, head: previous, firstBadSeq: previous.seq + 1, problem: `segment ${s.metadata?.name}: incomplete last line` };
    for (const line of lines.slice(0, -1)) {
      const problem = lineProblem(line, previous);
      if (problem) return { ok: false, entries: count, head: previous, firstBadSeq: previous.seq + 1, problem: `segment ${s.metadata?.name}, after seq ${previous.seq}: ${problem}` };
      const e = JSON.parse(line) as AuditEntry;
      previous = { seq: e.seq, hash: e.hash };
      count++;
    }
  }
  return { ok: true, entries: count, head: previous };
}

export async function listSegments(clients: Pick<KubeClients, 'request'>, namespace: string): Promise<V1ConfigMap[]> {
  const list = await clients.request<{ items?: V1ConfigMap[] }>({ method: 'GET', path: `/api/v1/namespaces/${namespace}/configmaps`, query: { labelSelector: `${SEGMENT_LABEL}=true` } });
  return list.items ?? [];
}

export class ClusterAuditStore implements AuditStore {
  readonly #o: Required<Omit<ClusterAuditStoreOptions, 'onBacklog'>> & Pick<ClusterAuditStoreOptions, 'onBacklog'>;
  #head: AuditHead;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;

  private constructor(o: ClusterAuditStoreOptions, head: AuditHead) {
    this.#o = { maxEntries: 500, batchMs: 50, maxPending: 10_000, clock: () => new Date(), ...o };
    this.#head = head;
  }

  /** Reads the stored chain (verifying it) and continues it; a broken chain is refused. */
  static async open(o: ClusterAuditStoreOptions): Promise<ClusterAuditStore> {
    const v = verifySegments(await listSegments(o.clients, o.namespace));
    if (!v.ok) throw new AuditLogError('broken', `the audit chain in namespace ${o.namespace} is broken at seq ${v.firstBadSeq}: ${v.problem}`);
    return new ClusterAuditStore(o, v.head);
  }

  /** Continues from a head already read and verified (open does both). */
  static openAt(o: ClusterAuditStoreOptions, head: AuditHead): ClusterAuditStore {
    return new ClusterAuditStore(o, head);
  }

  head(): AuditHead {
    return { ...this.#head };
  }

  append(record: AuditRecord): Promise<AuditEntry> {
    if (this.#closed) return Promise.reject(new AuditLogError('closed', 'the cluster audit store is closed'));
    const invalid = invalidRecord(record);
    if (invalid) return Promise.reject(new AuditLogError('invalid-record', invalid));
    if (this.#pending.length >= this.#o.maxPending) return Promise.reject(new AuditLogError('broken', `${this.#pending.length} audit records wait for the API server: refusing more until it answers`));
    const entry = this.#chain(record);
    return new Promise<AuditEntry>((resolve, reject) => {
      this.#pending.push({ record, entry, resolve, reject });
      this.#o.onBacklog?.(this.#pending.length);
      this.#flushing ??= this.#flush();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#flushing;
  }

  #chain(record: AuditRecord): AuditEntry {
    const entry = entryFor(record, this.#head, this.#o.clock());
    this.#head = { seq: entry.seq, hash: entry.hash };
    return entry;
  }

  async #flush(): Promise<void> {
    try {
      let backoffMs = 100;
      while (this.#pending.length > 0) {
        if (!this.#closed) await new Promise((r) => setTimeout(r, this.#o.batchMs));
        const batch = this.#take();
        try {
          await this.#o.clients.request({ method: 'POST', path: `/api/v1/namespaces/${this.#o.namespace}/configmaps`, body: segmentFor(this.#o.namespace, batch.map((p) => p.entry)) });
        } catch (err) {
          this.#pending.unshift(...batch);
          if (isConflict(err)) {
            // Another writer (a previous leader) stored this part of the chain: continue after it.
            await this.#rechain();
            continue;
          }
          // The API server did not take it: hold and retry (bounded by maxPending).
          await new Promise((r) => setTimeout(r, backoffMs));
          backoffMs = Math.min(backoffMs * 2, 5_000);
          if (this.#closed && backoffMs >= 5_000) {
            for (const p of this.#pending.splice(0)) p.reject(new AuditLogError('broken', `audit records not stored before close: ${err instanceof Error ? err.message : String(err)}`));
          }
          continue;
        }
        backoffMs = 100;
        for (const p of batch) p.resolve(p.entry);
        this.#o.onBacklog?.(this.#pending.length);
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Up to maxEntries consecutive entries, kept under ~900 KB (a ConfigMap holds 1 MiB). */
  #take(): Pending[] {
    let bytes = 0;
    let n = 0;
    for (const p of this.#pending) {
      const size = canonicalJson(p.entry).length + 1;
      if (n > 0 && (n >= this.#o.maxEntries || bytes + size > 900_000)) break;
      bytes += size;
      n++;
    }
    return this.#pending.splice(0, n);
  }

  /** Re-reads the stored head and chains every unacknowledged entry after it again. */
  async #rechain(): Promise<void> {
    const v = verifySegments(await listSegments(this.#o.clients, this.#o.namespace));
    if (!v.ok) {
      const e = new AuditLogError('broken', `the audit chain in namespace ${this.#o.namespace} is broken at seq ${v.firstBadSeq}: ${v.problem}`);
      for (const p of this.#pending.splice(0)) p.reject(e);
      return;
    }
    this.#head = v.head;
    for (const p of this.#pending) p.entry = this.#chain(p.record);
  }
}
