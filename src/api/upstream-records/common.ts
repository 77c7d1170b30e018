// What every upstream record family needs from one agent-machine object: its operation (the
// queued primary one before the first reconcile), whether a failure was a denial, the actors,
// the device, stable gate ids and references into the audit chain. Pure: the caller reads the
// objects, the audit entries and the cluster identity and passes the clock.
import { createHash } from 'node:crypto';
import type { AgentMachineProfile, Operation, PolicyDecision } from '../types.generated.ts';
import { operationIds } from '../operation.ts';
import { primaryOperationType, type AgentMachineObject } from '../workspace-operation-contract.ts';
import type { AuditEntry } from '../../governance/audit-log.ts';

/** Where the records are emitted: the cluster (kube-system's UID) and the node or host. */
export interface DeviceContext {
  /** metadata.uid of the kube-system namespace: stable for the life of the cluster. */
  clusterUid: string;
  /** The node or host the controller runs agents on; `cluster` when it cannot be told. */
  node: string;
}

export interface RecordInputs {
  obj: AgentMachineObject;
  /** The profile the object references (a profile governs itself). */
  profile?: AgentMachineProfile;
  /** Audit entries about this object (matched by UID), in chain order; empty when no audit trail was read. */
  audit: readonly AuditEntry[];
  device: DeviceContext;
  now: Date;
  /** The audit store the entries came from: the file store is on the node, the cluster store in the API server. */
  auditStore?: 'file' | 'cluster';
}

/** The controller's identity when no delegation is involved (a profile governs itself). */
export const CONTROLLER_ACTOR = 'system:agent-machine-controller';

export function uidOf(obj: AgentMachineObject): string {
  const uid = obj.metadata.uid?.toLowerCase();
  if (!uid || !/^[a-z0-9][a-z0-9-]*$/.test(uid)) {
    throw new Error(`${obj.kind} ${obj.metadata.name ?? '?'}: a record needs the object's metadata.uid (read it from the API server)`);
  }
  return uid;
}

/** status.operation as the controller wrote it; before the first reconcile, the queued primary operation. */
export function operationOf(obj: AgentMachineObject): Operation {
  const observed = obj.status?.operation;
  if (observed) return observed;
  const operationType = primaryOperationType(obj.kind);
  return { ...operationIds(uidOf(obj), operationType), operationType, state: 'queued', events: [] };
}

/**
 * Every reconciler reports a denial as a failed operation; the phase (or a grant's state) still
 * says Denied, and that is what upstream calls blocked.
 */
export function isDenied(obj: AgentMachineObject): boolean {
  const status = (obj.status ?? {}) as { phase?: string; state?: string };
  return status.phase === 'Denied' || status.state === 'Denied';
}

/** prophet-core's operation_status / task_status. `cancelled` is spelled `canceled` there. */
export type UpstreamStatus = 'queued' | 'running' | 'retrying' | 'blocked' | 'canceled' | 'failed' | 'completed';

export function upstreamStatus(obj: AgentMachineObject): UpstreamStatus {
  const state = operationOf(obj).state;
  switch (state) {
    case 'cancelled':
      return 'canceled';
    case 'failed':
      return isDenied(obj) ? 'blocked' : 'failed';
    default:
      return state;
  }
}

export interface Delegation {
  delegator: string;
  delegate: string;
}

export function delegationOf(obj: AgentMachineObject): Delegation | undefined {
  if (obj.kind === 'AgentMachineProfile') return undefined;
  const authority = (obj.spec as { authority?: { delegator?: string; delegate?: string } }).authority;
  return authority?.delegator && authority.delegate ? { delegator: authority.delegator, delegate: authority.delegate } : undefined;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * urn:srcos:device-identity:k8s-<32 hex>: the cluster's kube-system UID and the node, hashed so
 * the record names the device without publishing either. Same inputs, same id, forever.
 */
export function deviceIdFor(device: DeviceContext): string {
  return `urn:srcos:device-identity:k8s-${sha256Hex(`${device.clusterUid}\u0000${device.node}`).slice(0, 32)}`;
}

/**
 * One id per (object, gate, rule): the same decision taken again on a later reconcile keeps its
 * id, a different rule of the same gate gets another. The rule is hashed because rule names
 * are free text (CEL rule names) and ids must be URN-safe.
 */
export function gateIdFor(uid: string, decision: Pick<PolicyDecision, 'gate' | 'rule'>): string {
  const gate = decision.gate.replace(/[^A-Za-z0-9_.-]/g, '_');
  return `urn:srcos:policy-gate-record:${uid}:${gate}:${sha256Hex(`${decision.gate}\u0000${decision.rule}`).slice(0, 16)}`;
}

/** The gate of the governing profile that will decide, for records made before any decision. */
export function profileGateRef(obj: AgentMachineObject, gate: string): string {
  const profile = obj.kind === 'AgentMachineProfile' ? obj.metadata.name : (obj.spec as { profileRef?: { name?: string } }).profileRef?.name;
  return profile ? `urn:srcos:policy-gate:agentmachineprofile:${profile}:${gate}` : `urn:srcos:policy-gate:${gate}`;
}

/** An audit entry by its place in the chain; the hash makes the reference verifiable. */
export function auditEventId(entry: Pick<AuditEntry, 'seq'>): string {
  return `urn:srcos:agent-machine:audit-entry:${entry.seq}`;
}

export function auditEvidenceRef(entry: Pick<AuditEntry, 'seq' | 'hash'>): string {
  return `${auditEventId(entry)}#sha256:${entry.hash}`;
}

/** The decisions a record speaks about: the object's current ones, then older ones only the audit trail still has. */
export function decisionsOf(inputs: Pick<RecordInputs, 'obj' | 'audit'>): Array<{ decision: PolicyDecision; entries: AuditEntry[] }> {
  const key = (d: Pick<PolicyDecision, 'gate' | 'rule' | 'allowed'>) => `${d.gate}\u0000${d.rule}\u0000${d.allowed}`;
  const byKey = new Map<string, { decision: PolicyDecision; entries: AuditEntry[] }>();
  for (const decision of inputs.obj.status?.decisions ?? []) if (!byKey.has(key(decision))) byKey.set(key(decision), { decision, entries: [] });
  for (const entry of inputs.audit) {
    for (const decision of entry.decisions ?? []) {
      const k = key(decision);
      const found = byKey.get(k);
      if (found) found.entries.push(entry);
      else byKey.set(k, { decision, entries: [entry] });
    }
  }
  return [...byKey.values()];
}

/** What status keeps about the object's times, as RFC 3339 strings. */
export function createdAt(obj: AgentMachineObject, now: Date): string {
  return isoTime(obj.metadata.creationTimestamp) ?? now.toISOString();
}

export function isoTime(value: unknown): string | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The last moment anything was recorded about the object (an event, an audit entry), else its creation. */
export function updatedAt(inputs: Pick<RecordInputs, 'obj' | 'audit' | 'now'>): string {
  const times = [createdAt(inputs.obj, inputs.now), ...(operationOf(inputs.obj).events ?? []).map((e) => isoTime(e.at)), ...inputs.audit.map((e) => isoTime(e.at))].filter(
    (t): t is string => t !== undefined,
  );
  return times.reduce((a, b) => (a > b ? a : b));
}

/** The audit entries about this object, matched by UID (names are reused; UIDs are not). */
export function entriesAbout(obj: AgentMachineObject, entries: Iterable<AuditEntry>): AuditEntry[] {
  const uid = obj.metadata.uid;
  const out: AuditEntry[] = [];
  for (const e of entries) if (uid && e.object.uid === uid) out.push(e);
  return out;
}
