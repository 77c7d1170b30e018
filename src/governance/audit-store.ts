// Where the hash-chained audit trail is kept. Two stores, one contract: `append` resolves only
// once the entry is durable (a status write that depends on it waits for that), `head` is the
// last entry's seq and hash, `recent` reads the newest stored entries back (so a new leader
// knows what its predecessor recorded), `close` waits for what is pending. The file store
// (audit-log.ts) serves `make run` and workstations; the cluster store (cluster-audit-store.ts) keeps the
// same chain in the API server, so it survives Pod restarts and leader failover.
import type { AuditEntry, AuditHead, AuditRecord } from './audit-log.ts';

export interface AuditStore {
  append(record: AuditRecord): Promise<AuditEntry>;
  head(): AuditHead;
  /**
   * The newest `limit` stored entries, oldest first, as stored now (a new leader reads what its
   * predecessor stored). Refused (AuditLogError) when they do not verify.
   */
  recent(limit: number): Promise<AuditEntry[]>;
  close(): Promise<void>;
}
