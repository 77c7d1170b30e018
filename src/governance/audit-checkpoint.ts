// Retention for the cluster audit chain: the oldest segments are compacted into a checkpoint —
// the number of entries it stands for, their first and last seq, and the hash of the last one
// (the head the next segment's first entry links to) — sealed by its own hash, so etcd holds
// at most the newest `retain` entries (plus one segment) and one small object for the rest.
// Verification starts at the checkpoint instead of the genesis hash: an edited checkpoint fails
// its seal, a deleted one leaves the next segment linking to a head nobody vouches for, and
// nothing after it verifies differently. What a checkpoint cannot do is bring back the entries
// it replaced: ship them first (`agent-machine audit export`, docs/operations.md).
//
// Pure: what to compact and whether a checkpoint is intact; the I/O is cluster-audit-store.ts.
import { createHash } from 'node:crypto';
import { canonicalJson, GENESIS_HASH, type AuditHead } from './audit-log.ts';

export type AuditCheckpoint = {
  /** Entries compacted into it: every entry from firstSeq to lastSeq. */
  count: number;
  firstSeq: number;
  lastSeq: number;
  /** The hash of entry lastSeq: what entry lastSeq + 1 names as prevHash. */
  headHash: string;
  /** When it was made, and by whom (the controller's identity). */
  at: string;
  by: string;
  /** SHA-256 of the canonical JSON of the fields above. */
  hash: string;
};

/** A stored segment as its name and annotations describe it (no entries read). */
export type SegmentSummary = { name: string; first: number; last: number };

export function sealCheckpoint(c: Omit<AuditCheckpoint, 'hash'>): AuditCheckpoint {
  return { ...c, hash: checkpointHash(c) };
}

function checkpointHash(c: Omit<AuditCheckpoint, 'hash'> & { hash?: string }): string {
  const { hash: _, ...rest } = c;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** What is wrong with a stored checkpoint (undefined: intact). */
export function checkpointProblem(c: unknown): string | undefined {
  if (c === null || typeof c !== 'object') return 'the checkpoint is not a JSON object';
  const k = c as AuditCheckpoint;
  if (![k.count, k.firstSeq, k.lastSeq].every(Number.isSafeInteger) || typeof k.headHash !== 'string' || typeof k.hash !== 'string') return 'the checkpoint lacks count, firstSeq, lastSeq, headHash or hash';
  if (checkpointHash(k) !== k.hash) return 'the checkpoint does not match its seal: it was edited';
  if (k.firstSeq !== 1 || k.count !== k.lastSeq - k.firstSeq + 1) return `the checkpoint claims ${k.count} entries for seq ${k.firstSeq}..${k.lastSeq}`;
  return undefined;
}

/** Where verification of the stored segments starts: after the checkpoint, or at genesis. */
export function startOf(c: AuditCheckpoint | undefined): AuditHead {
  return c ? { seq: c.lastSeq, hash: c.headHash } : { seq: 0, hash: GENESIS_HASH };
}

export type CompactionPlan = {
  /** Segments the new checkpoint stands for, oldest first (read and verified before sealing). */
  covered: SegmentSummary[];
  lastSeq: number;
  /** Segments a previous checkpoint already stands for (a compaction cut short): only deleted. */
  stale: SegmentSummary[];
};

/**
 * The oldest whole segments that can go while the newest `retain` entries stay, or undefined
 * when nothing is due. Segments must follow each other without a gap (a gap is left for
 * verification to name, never sealed over).
 */
export function planCompaction(segments: readonly SegmentSummary[], checkpoint: AuditCheckpoint | undefined, retain: number): CompactionPlan | undefined {
  const from = checkpoint?.lastSeq ?? 0;
  const sorted = [...segments].sort((a, b) => a.first - b.first);
  const stale = sorted.filter((s) => s.last <= from);
  const live = sorted.filter((s) => s.last > from);
  const newest = live.at(-1)?.last ?? from;
  const covered: SegmentSummary[] = [];
  let next = from + 1;
  for (const s of live) {
    if (s.first !== next || newest - s.last < retain) break;
    covered.push(s);
    next = s.last + 1;
  }
  if (covered.length === 0) return stale.length > 0 ? { covered: [], lastSeq: from, stale } : undefined;
  return { covered, lastSeq: covered.at(-1)!.last, stale };
}
