// Reading the audit chain out: verified as it is read (the first entry that breaks it stops the
// export and is named by its seq), filtered by execution, delegator and time, and written as
// the entries themselves (JSON lines) or as OCSF 1.x API Activity events — the class security
// teams' pipelines ingest. Pure over the lines: the CLI hands in either store's.
import { GENESIS_HASH, lineProblem, type AuditEntry, type AuditHead } from './audit-log.ts';

export interface AuditFilter {
  /** A LocalAgentExecution name: its own entries and its container records' (<execution>-<container>[-<attempt>]). */
  execution?: string;
  namespace?: string;
  /** The delegator (the entry's actor). */
  delegator?: string;
  since?: Date;
  until?: Date;
}

export function matches(e: AuditEntry, f: AuditFilter): boolean {
  if (f.namespace !== undefined && e.object.namespace !== f.namespace) return false;
  if (f.delegator !== undefined && e.actor !== f.delegator) return false;
  if (f.execution !== undefined) {
    const own = e.object.kind === 'LocalAgentExecution' && e.object.name === f.execution;
    const record = e.object.kind === 'ContainerExecutionRecord' && e.object.name.startsWith(`${f.execution}-`);
    if (!own && !record) return false;
  }
  const at = Date.parse(e.at);
  if (f.since && at < f.since.getTime()) return false;
  if (f.until && at >= f.until.getTime()) return false;
  return true;
}

export type ExportResult = { ok: true; read: number; written: number } | { ok: false; read: number; written: number; firstBadSeq: number; problem: string };

/**
 * Verifies every line in order and hands on the matching entries; stops at the first break.
 * `start` is where the lines continue the chain (a retention checkpoint's head; asked when the
 * first line arrives, so the reader can learn it while reading): the genesis hash by default.
 */
export async function exportEntries(lines: AsyncIterable<string>, filter: AuditFilter, write: (e: AuditEntry) => void, start: () => AuditHead = () => ({ seq: 0, hash: GENESIS_HASH })): Promise<ExportResult> {
  let previous: AuditHead | undefined;
  let read = 0;
  let written = 0;
  for await (const line of lines) {
    previous ??= start();
    const problem = lineProblem(line, previous);
    if (problem) return { ok: false, read, written, firstBadSeq: previous.seq + 1, problem };
    const e = JSON.parse(line) as AuditEntry;
    previous = { seq: e.seq, hash: e.hash };
    read++;
    if (matches(e, filter)) {
      write(e);
      written++;
    }
  }
  return { ok: true, read, written };
}

const ACTIVITY: Record<string, number> = { apply: 1, create: 1, start: 1, run: 1, bind: 1, export_redacted: 2, revoke: 4, cancel: 99 };
const FAILED = new Set(['denied', 'failed']);

/**
 * One entry as an OCSF 1.x API Activity event (class 6003). What OCSF has no field for (the
 * chain, the delegate, the decisions) stays under `unmapped`, so nothing of the entry is lost.
 */
export function toOcsf(e: AuditEntry, productVersion: string): Record<string, unknown> {
  const verb = e.operationType.split('.').pop() ?? '';
  const activityId = ACTIVITY[verb] ?? 99;
  const failed = FAILED.has(e.outcome);
  return {
    class_uid: 6003,
    class_name: 'API Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: activityId,
    type_uid: 6003 * 100 + activityId,
    time: Date.parse(e.at),
    severity_id: failed ? 3 : 1,
    status_id: failed ? 2 : 1,
    status: failed ? 'Failure' : 'Success',
    status_detail: e.reason,
    message: `${e.operationType} ${e.object.kind} ${e.object.namespace ? `${e.object.namespace}/` : ''}${e.object.name}: ${e.outcome}`,
    metadata: { version: '1.1.0', product: { name: 'agent-machine', vendor_name: 'SourceOS', version: productVersion }, uid: e.hash, sequence: e.seq },
    actor: { user: { name: e.actor, type: 'User' }, ...(e.delegate ? { app_name: e.delegate } : {}) },
    api: { operation: e.operationType, service: { name: 'agent-machine' }, request: { uid: e.commandRef } },
    src_endpoint: { name: 'agent-machine-controller' },
    resources: [{ type: e.object.kind, name: e.object.name, ...(e.object.uid ? { uid: e.object.uid } : {}), ...(e.object.namespace ? { namespace: e.object.namespace } : {}) }],
    unmapped: { outcome: e.outcome, seq: e.seq, prevHash: e.prevHash, hash: e.hash, ...(e.delegate ? { delegate: e.delegate } : {}), ...(e.decisions ? { decisions: e.decisions } : {}), ...(e.egress ? { egress: e.egress } : {}), ...(e.calls ? { calls: e.calls } : {}) },
  };
}
