// The upstream records a diagnostics bundle carries next to the objects and the audit lines:
// prophet-core WorkspaceOperation/OperationTask/OperationEvents per scoped object and the
// sourceos-spec LocalOperationLog of the scoped audit entries, so the platform reading a bundle
// gets its own shapes. Pure: made from what was gathered; bundle.ts redacts them like any file.
import type { KubernetesObject } from '@kubernetes/client-node';
import { isKindName } from '../api/group.ts';
import { entriesAbout, type DeviceContext } from '../api/upstream-records/common.ts';
import { buildLocalOperationLog } from '../api/upstream-records/local-operation-log.ts';
import { buildProphetCoreRecords } from '../api/upstream-records/prophet-core.ts';
import type { AgentMachineObject } from '../api/workspace-operation-contract.ts';
import type { AuditEntry } from '../governance/audit-log.ts';

export const RECORDS_DIR = 'records';

export interface UpstreamRecordFiles {
  /** path → JSON value (prophet-core per object) or JSON lines (the log). */
  files: Map<string, string>;
  notes: string[];
}

export function upstreamRecordFiles(
  objects: readonly KubernetesObject[],
  auditLines: readonly string[] | undefined,
  device: DeviceContext,
  opts: { objects: boolean; audit: boolean; auditStore: 'file' | 'cluster'; now: Date; segment: (name: string) => string },
): UpstreamRecordFiles {
  const files = new Map<string, string>();
  const notes: string[] = [];
  const entries = parseEntries(auditLines ?? []);
  if (opts.objects) {
    for (const o of objects) {
      if (!isKindName(o.kind) || !o.metadata?.uid) continue;
      const obj = o as AgentMachineObject;
      try {
        const records = buildProphetCoreRecords({ obj, audit: entriesAbout(obj, entries), device, now: opts.now });
        files.set(`${RECORDS_DIR}/prophet-core/${o.kind}/${opts.segment(o.metadata.name ?? 'unnamed')}.json`, `${JSON.stringify(records, null, 2)}\n`);
      } catch (err) {
        notes.push(`prophet-core records of ${o.kind} ${o.metadata.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  if (opts.audit && auditLines !== undefined) {
    const log = buildLocalOperationLog(entries, { device, auditStore: opts.auditStore });
    files.set(`${RECORDS_DIR}/local-operation-log.jsonl`, log.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }
  return { files, notes };
}

/** Lines that are not whole entries (one being written) are left out, as the audit file itself keeps them. */
function parseEntries(lines: readonly string[]): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const line of lines) {
    try {
      const e = JSON.parse(line) as AuditEntry;
      if (typeof e?.seq === 'number' && typeof e.hash === 'string' && e.object) out.push(e);
    } catch {
      // not a whole entry
    }
  }
  return out;
}
