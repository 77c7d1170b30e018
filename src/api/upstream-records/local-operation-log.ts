// sourceos-spec's LocalOperationLog (schemas/LocalOperationLog.json): one entry per audit
// record, surface agent-machine, integrity.entryHash the record's hash in the chain (so the log
// entry can be checked against `agent-machine audit verify`). Metadata only: audit records
// never carry prompt text, tokens or credentials, and nothing else is copied.
// Mapping table: docs/contracts.md.
import type { OperationType } from '../types.generated.ts';
import type { AuditEntry } from '../../governance/audit-log.ts';
import { operationIds } from '../operation.ts';
import { auditEventId, deviceIdFor, gateIdFor, isoTime, type DeviceContext } from './common.ts';
import { agentRefOf } from './agent-registry.ts';

export const LOCAL_OPERATION_LOG_SPEC_VERSION = '2.0.0';

type LogOperationType = 'agent.execution' | 'agent.delegation' | 'policy.decision' | 'file.write';

/** upstream has no agent_machine.* types: each command is filed under the closest class (docs/contracts.md). */
const OPERATION_TYPE_OF: Record<OperationType, LogOperationType> = {
  'agent_machine.profile.create': 'policy.decision',
  'agent_machine.tool_grant.apply': 'agent.delegation',
  'agent_machine.tool_grant.revoke': 'agent.delegation',
  'agent_machine.execution.start': 'agent.execution',
  'agent_machine.execution.cancel': 'agent.execution',
  'agent_machine.container.run': 'agent.execution',
  'agent_machine.model_provider.bind': 'agent.delegation',
  'agent_machine.diagnostics.export_redacted': 'file.write',
};

export interface LocalOperationLogEntry {
  id: string;
  type: 'LocalOperationLog';
  specVersion: typeof LOCAL_OPERATION_LOG_SPEC_VERSION;
  operationType: LogOperationType;
  surface: 'agent-machine';
  occurredAt: string;
  actorRef: string;
  agentRegistryRef: string | null;
  deviceRef: string;
  sessionRef: null;
  workspaceRef: string | null;
  durabilityTier: 'local-durable' | 'synced';
  replaySafe: false;
  replayConstraints: null;
  payloadMode: 'metadata-only';
  payload: Record<string, unknown>;
  artifactRefs: string[];
  remoteOperationRef: null;
  workspaceOperationRef: string | null;
  operationTaskRef: string | null;
  operationEventRef: string;
  policyGateRecordRef: string | null;
  encryptionProfileRef: null;
  policyDecisionRefs: string[];
  evidenceRefs: string[];
  redactionRefs: string[];
  integrity: { entryHash: string; signature: null };
}

export interface LogOptions {
  device: DeviceContext;
  /** file: the chain is on the node's disk; cluster: kept in the API server. */
  auditStore: 'file' | 'cluster';
}

export function buildLocalOperationLog(entries: readonly AuditEntry[], options: LogOptions): LocalOperationLogEntry[] {
  const deviceRef = deviceIdFor(options.device);
  return entries.map((entry) => {
    const uid = entry.object.uid?.toLowerCase();
    const ids = uid ? operationIds(uid, entry.operationType) : undefined;
    const gateIds = uid ? (entry.decisions ?? []).map((d) => gateIdFor(uid, d)) : [];
    const denial = uid ? (entry.decisions ?? []).find((d) => !d.allowed) : undefined;
    return {
      id: `urn:srcos:local-operation-log:agent-machine-${entry.hash}`,
      type: 'LocalOperationLog',
      specVersion: LOCAL_OPERATION_LOG_SPEC_VERSION,
      operationType: entry.outcome === 'denied' ? 'policy.decision' : OPERATION_TYPE_OF[entry.operationType],
      surface: 'agent-machine',
      occurredAt: isoTime(entry.at) ?? entry.at,
      actorRef: `urn:srcos:subject:${entry.actor}`,
      agentRegistryRef: entry.delegate ? agentRefOf(entry.delegate) : null,
      deviceRef,
      sessionRef: null,
      workspaceRef: entry.object.namespace ? `urn:srcos:workspace:k8s-namespace:${entry.object.namespace}` : null,
      durabilityTier: options.auditStore === 'cluster' ? 'synced' : 'local-durable',
      // Every command changes state (starts containers, grants, revokes): replaying one is not safe.
      replaySafe: false,
      replayConstraints: null,
      payloadMode: 'metadata-only',
      payload: {
        agentMachineOperationType: entry.operationType,
        commandRef: entry.commandRef,
        outcome: entry.outcome,
        reason: entry.reason,
        object: { ...entry.object },
        decisions: (entry.decisions ?? []).length,
        ...(entry.egress ? { egressDestinations: entry.egress.length } : {}),
        rawPromptIncluded: false,
      },
      artifactRefs: [],
      remoteOperationRef: null,
      workspaceOperationRef: ids?.operationId ?? null,
      operationTaskRef: ids?.taskId ?? null,
      operationEventRef: auditEventId(entry),
      policyGateRecordRef: denial ? gateIdFor(uid!, denial) : (gateIds[0] ?? null),
      encryptionProfileRef: null,
      policyDecisionRefs: gateIds,
      evidenceRefs: [`${auditEventId(entry)}#sha256:${entry.hash}`],
      redactionRefs: [],
      integrity: { entryHash: `sha256:${entry.hash}`, signature: null },
    };
  });
}
