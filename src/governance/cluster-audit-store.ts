// The audit chain kept by the API server: entries batched into immutable ConfigMaps (segments)
// in the controller's namespace, each named after its first sequence number, so two writers
// can never both store the same part of the chain — the API server refuses the second create
// (409), and the loser re-reads the head and chains its unacknowledged entries after it. A
// record is acknowledged only once its segment is stored; while the API server does not
// answer, entries wait (bounded; beyond the bound appends are refused) and are retried.
// Retention (retainEntries): the oldest segments are compacted into a checkpoint
// (audit-checkpoint.ts) and deleted, so etcd keeps the newest entries and one small object.
import { hostname } from 'node:os';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { checkpointProblem, planCompaction, sealCheckpoint, startOf, type AuditCheckpoint, type SegmentSummary } from './audit-checkpoint.ts';
import { AuditLogError, canonicalJson, entryFor, invalidRecord, lineProblem, tailEntries, type AuditEntry, type AuditHead, type AuditRecord } from './audit-log.ts';
import type { AuditStore } from './audit-store.ts';
import type { KubeClients } from '../operator/kube-clients.ts';
import { isConflict, isNotFound } from '../operator/kube-clients.ts';

export const SEGMENT_LABEL = 'agentmachine.sourceos.dev/audit-segment';
export const CHECKPOINT_LABEL = 'agentmachine.sourceos.dev/audit-checkpoint';
const CHECKPOINT_KEY = 'checkpoint.json';
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
  /**
   * Entries kept in segments; older whole segments are compacted into a checkpoint and
   * deleted (0, the default: keep every segment). Checked every compactEvery entries stored.
   */
  retainEntries?: number;
  /** Entries stored between compaction checks (default: max(maxEntries, retainEntries / 10)). */
  compactEvery?: number;
  /** Told about each compaction (or why one failed: it is retried at the next check). */
  onCompaction?: (result: { checkpoint?: AuditCheckpoint; deleted: number } | { error: string }) => void;
  /** Who makes checkpoints (default: the host name, i.e. the Pod). */
  identity?: string;
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

export function checkpointName(lastSeq: number): string {
  return `agent-machine-audit-checkpoint-${String(lastSeq).padStart(12, '0')}`;
}

export function checkpointFor(namespace: string, c: AuditCheckpoint): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: checkpointName(c.lastSeq), namespace, labels: { [CHECKPOINT_LABEL]: 'true', 'app.kubernetes.io/part-of': 'agent-machine' } },
    immutable: true,
    data: { [CHECKPOINT_KEY]: `${canonicalJson(c)}\n` },
  };
}

/** The first seq a segment's name gives (names sort in chain order). */
export function segmentFirstSeq(s: V1ConfigMap): number {
  const m = /^agent-machine-audit-(\d{12})$/.exec(s.metadata?.name ?? '');
  return m ? Number(m[1]) : Number.NaN;
}

/** The newest checkpoint (the one verification starts from), parsed; a problem if it is not intact. */
export function latestCheckpoint(checkpoints: readonly V1ConfigMap[]): { checkpoint?: AuditCheckpoint; problem?: string } {
  const newest = [...checkpoints].sort((a, b) => (b.metadata?.name ?? '').localeCompare(a.metadata?.name ?? ''))[0];
  if (!newest) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(newest.data?.[CHECKPOINT_KEY] ?? '');
  } catch {
    return { problem: `checkpoint ${newest.metadata?.name}: not JSON` };
  }
  const problem = checkpointProblem(parsed);
  if (problem) return { problem: `checkpoint ${newest.metadata?.name}: ${problem}` };
  const c = parsed as AuditCheckpoint;
  if (newest.metadata?.name !== checkpointName(c.lastSeq)) return { problem: `checkpoint ${newest.metadata?.name}: named for another seq than its lastSeq ${c.lastSeq}` };
  return { checkpoint: c };
}

export type SegmentVerification = { ok: boolean; entries: number; head: AuditHead; firstBadSeq?: number; problem?: string; checkpoint?: AuditCheckpoint };

/**
 * Walks the chain across segments in order, from the newest checkpoint (if any; its entries
 * count): any edit, deletion, insertion or reordering of a segment, or an edited or deleted
 * checkpoint, breaks it. Segments the checkpoint already stands for are skipped.
 */
export function verifySegments(segments: readonly V1ConfigMap[], checkpoints: readonly V1ConfigMap[] = []): SegmentVerification {
  const cp = latestCheckpoint(checkpoints);
  if (cp.problem) return { ok: false, entries: 0, head: startOf(undefined), firstBadSeq: 1, problem: cp.problem };
  let previous: AuditHead = startOf(cp.checkpoint);
  let count = cp.checkpoint?.count ?? 0;
  const sorted = [...segments].filter((s) => !(segmentFirstSeq(s) <= previous.seq)).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
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
  return { ok: true, entries: count, head: previous, ...(cp.checkpoint ? { checkpoint: cp.checkpoint } : {}) };
}

export async function listSegments(clients: Pick<KubeClients, 'request'>, namespace: string): Promise<V1ConfigMap[]> {
  const list = await clients.request<{ items?: V1ConfigMap[] }>({ method: 'GET', path: `/api/v1/namespaces/${namespace}/configmaps`, query: { labelSelector: `${SEGMENT_LABEL}=true` } });
  return list.items ?? [];
}

export async function listCheckpoints(clients: Pick<KubeClients, 'request'>, namespace: string): Promise<V1ConfigMap[]> {
  const list = await clients.request<{ items?: V1ConfigMap[] }>({ method: 'GET', path: `/api/v1/namespaces/${namespace}/configmaps`, query: { labelSelector: `${CHECKPOINT_LABEL}=true` } });
  return list.items ?? [];
}

/** Reads and verifies everything stored: the newest checkpoint and the segments after it. */
export async function verifyStored(clients: Pick<KubeClients, 'request'>, namespace: string): Promise<SegmentVerification> {
  const [checkpoints, segments] = await Promise.all([listCheckpoints(clients, namespace), listSegments(clients, namespace)]);
  return verifySegments(segments, checkpoints);
}

/** The stored segments' names and seq ranges, without their entries (metadata only). */
async function segmentSummaries(clients: Pick<KubeClients, 'request'>, namespace: string): Promise<SegmentSummary[]> {
  const list = await clients.request<{ items?: { metadata?: { name?: string; annotations?: Record<string, string> } }[] }>({
    method: 'GET',
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    query: { labelSelector: `${SEGMENT_LABEL}=true` },
    accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
  });
  return (list.items ?? []).map((i) => ({ name: i.metadata?.name ?? '', first: Number(i.metadata?.annotations?.[FIRST]), last: Number(i.metadata?.annotations?.[LAST]) })).filter((s) => Number.isSafeInteger(s.first) && Number.isSafeInteger(s.last));
}

/** The fewest newest segments that together hold the newest `limit` entries (oldest first). */
export function tailSegments(segments: readonly SegmentSummary[], limit: number): SegmentSummary[] {
  const out: SegmentSummary[] = [];
  let entries = 0;
  for (const s of [...segments].sort((a, b) => b.first - a.first)) {
    if (entries >= limit) break;
    out.unshift(s);
    entries += s.last - s.first + 1;
  }
  return out;
}

export class ClusterAuditStore implements AuditStore {
  readonly #o: Required<Omit<ClusterAuditStoreOptions, 'onBacklog' | 'onCompaction'>> & Pick<ClusterAuditStoreOptions, 'onBacklog' | 'onCompaction'>;
  #head: AuditHead;
  #sinceCompaction = 0;
  #compacting: Promise<void> | undefined;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;

  private constructor(o: ClusterAuditStoreOptions, head: AuditHead) {
    this.#o = { maxEntries: 500, batchMs: 50, maxPending: 10_000, clock: () => new Date(), retainEntries: 0, compactEvery: Math.max(o.maxEntries ?? 500, Math.floor((o.retainEntries ?? 0) / 10)), identity: hostname(), ...o };
    this.#head = head;
  }

  /** Reads the stored chain (verifying it) and continues it; a broken chain is refused. */
  static async open(o: ClusterAuditStoreOptions): Promise<ClusterAuditStore> {
    const v = await verifyStored(o.clients, o.namespace);
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

  /**
   * The newest `limit` stored entries (oldest first), read fresh from the API server (not from
   * what this replica stored: a standby's view is as old as its open), each checked against its
   * hash and its neighbour. A segment compacted away while it reads is older than what is kept,
   * and left out.
   */
  async recent(limit: number): Promise<AuditEntry[]> {
    if (limit <= 0) return [];
    const { clients, namespace } = this.#o;
    const wanted = tailSegments(await segmentSummaries(clients, namespace), limit);
    const read = await Promise.all(
      wanted.map((s) =>
        clients.request<V1ConfigMap>({ method: 'GET', path: `/api/v1/namespaces/${namespace}/configmaps/${s.name}` }).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        }),
      ),
    );
    const lines = read.flatMap((s) => (s ? (s.data?.[KEY] ?? '').split('\n').filter((l) => l !== '') : []));
    return tailEntries(lines.slice(-limit), `the audit chain in namespace ${namespace}`);
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
    await this.#compacting;
  }

  /**
   * Compacts the oldest segments beyond retainEntries into a checkpoint, then deletes them (and
   * older checkpoints). The covered segments are verified before they are sealed over, so a
   * checkpoint never vouches for a broken chain. Safe to race with another replica: the
   * checkpoint's name is its lastSeq, so the API server keeps only one.
   */
  async compact(): Promise<{ checkpoint?: AuditCheckpoint; deleted: number }> {
    const { clients, namespace } = this.#o;
    const checkpoints = await listCheckpoints(clients, namespace);
    const current = latestCheckpoint(checkpoints);
    if (current.problem) throw new AuditLogError('broken', `the audit chain in namespace ${namespace} is broken at seq 1: ${current.problem}`);
    const plan = planCompaction(await segmentSummaries(clients, namespace), current.checkpoint, this.#o.retainEntries);
    if (!plan) return { deleted: 0 };
    let made: AuditCheckpoint | undefined;
    if (plan.covered.length > 0) {
      const covered = await Promise.all(plan.covered.map((s) => clients.request<V1ConfigMap>({ method: 'GET', path: `/api/v1/namespaces/${namespace}/configmaps/${s.name}` })));
      const v = verifySegments(covered, current.checkpoint ? [checkpointFor(namespace, current.checkpoint)] : []);
      if (!v.ok) throw new AuditLogError('broken', `not compacting: the audit chain in namespace ${namespace} is broken at seq ${v.firstBadSeq}: ${v.problem}`);
      if (v.head.seq !== plan.lastSeq) throw new AuditLogError('broken', `not compacting: the segments end at seq ${v.head.seq}, their annotations say ${plan.lastSeq}`);
      made = sealCheckpoint({ count: v.entries, firstSeq: 1, lastSeq: v.head.seq, headHash: v.head.hash, at: this.#o.clock().toISOString(), by: this.#o.identity });
      try {
        await clients.request({ method: 'POST', path: `/api/v1/namespaces/${namespace}/configmaps`, body: checkpointFor(namespace, made) });
      } catch (err) {
        if (!isConflict(err)) throw err;
        // Another replica sealed the same segments: delete what it covers and nothing more.
      }
    }
    let deleted = 0;
    for (const s of [...plan.stale, ...plan.covered]) {
      await deleteIfPresent(clients, namespace, s.name);
      deleted++;
    }
    const keep = made ? checkpointName(made.lastSeq) : current.checkpoint ? checkpointName(current.checkpoint.lastSeq) : undefined;
    for (const c of checkpoints) if (c.metadata?.name !== keep) await deleteIfPresent(clients, namespace, c.metadata!.name!);
    return { ...(made ? { checkpoint: made } : {}), deleted };
  }

  #maybeCompact(stored: number): void {
    if (this.#o.retainEntries <= 0) return;
    this.#sinceCompaction += stored;
    if (this.#sinceCompaction < this.#o.compactEvery || this.#compacting) return;
    this.#sinceCompaction = 0;
    this.#compacting = this.compact()
      .then(
        (r) => this.#o.onCompaction?.(r),
        (err: unknown) => this.#o.onCompaction?.({ error: err instanceof Error ? err.message : String(err) }),
      )
      .finally(() => {
        this.#compacting = undefined;
      });
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
        this.#maybeCompact(batch.length);
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
    const v = await verifyStored(this.#o.clients, this.#o.namespace);
    if (!v.ok) {
      const e = new AuditLogError('broken', `the audit chain in namespace ${this.#o.namespace} is broken at seq ${v.firstBadSeq}: ${v.problem}`);
      for (const p of this.#pending.splice(0)) p.reject(e);
      return;
    }
    this.#head = v.head;
    for (const p of this.#pending) p.entry = this.#chain(p.record);
  }
}

async function deleteIfPresent(clients: Pick<KubeClients, 'request'>, namespace: string, name: string): Promise<void> {
  try {
    await clients.request({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}/configmaps/${name}` });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
