// What identifies one recorded decision, so it is recorded once: the object (uid) and the
// version it was decided on, the operation, the outcome and the reason as audited. A
// reconcile retried on the same version decides the same and finds its key remembered; so
// does a new leader whose predecessor stored the record and died before the status write,
// once it has recalled the keys from the chain's newest entries.
//
// Pure: CommandRecorder keeps the memory and does the reading.
import type { OperationType } from '../api/types.generated.ts';
import { sanitizeReason, type AuditEntry, type AuditOutcome } from '../governance/audit-log.ts';

/** The key of a decision on one object (the uid is the memory's key); the reason as the entry holds it. */
export function decisionKey(resourceVersion: string, operationType: OperationType, outcome: AuditOutcome, message: string): string {
  return [resourceVersion, operationType, outcome, sanitizeReason(message)].join('\u0000');
}

/**
 * uid → key of the last decision recorded for it, from entries oldest first. Entries without
 * an object uid and version (gateway batches, records from before versions were audited) name
 * no decision and are skipped.
 */
export function recalledDecisions(entries: readonly AuditEntry[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries) {
    const { uid, resourceVersion } = e.object ?? {};
    if (!uid || !resourceVersion) continue;
    out.delete(uid);
    out.set(uid, decisionKey(resourceVersion, e.operationType, e.outcome, e.reason));
  }
  return out;
}
