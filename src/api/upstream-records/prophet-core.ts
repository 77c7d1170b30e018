// prophet-core-contracts' Workspace Operation Plane records (schemas/workspace-operation.schema.json
// and operation-task-event.schema.json, v0.1.0) for one agent-machine object: the
// WorkspaceOperation, its one OperationTask, and an OperationEvent per audit entry about it
// (event ids are audit sequence numbers), or, with no audit trail at hand, per status event.
// Mapping table: docs/contracts.md.
import type { AuditEntry, AuditOutcome } from '../../governance/audit-log.ts';
import { RESOURCES } from '../resources.ts';
import { artifactRecords } from '../artifact-records.ts';
import {
  auditEventId,
  auditEvidenceRef,
  CONTROLLER_ACTOR,
  createdAt,
  decisionsOf,
  delegationOf,
  gateIdFor,
  isoTime,
  operationOf,
  uidOf,
  updatedAt,
  upstreamStatus,
  type RecordInputs,
  type UpstreamStatus,
} from './common.ts';

const SCHEMA_VERSION = '0.1.0';

type Actor = { actor_type: 'user' | 'agent' | 'system'; actor_id: string };
type Ref = { ref_type: string; ref_id: string; uri?: string };

export interface ProphetWorkspaceOperation {
  schema_version: typeof SCHEMA_VERSION;
  operation_id: string;
  operation_type: string;
  actor: Actor;
  delegated_by?: Actor;
  target: Ref;
  status: UpstreamStatus;
  idempotency_key: string;
  capability_profile_id?: string;
  task_ids: string[];
  artifact_ids: string[];
  policy_gate_ids: string[];
  decision_ids: string[];
  created_at: string;
  updated_at: string;
  metadata: Record<string, unknown>;
}

type ResponsibleActor = 'current_user' | 'workspace_owner' | 'agent_operator' | 'system';

export interface ProphetOperationTask {
  schema_version: typeof SCHEMA_VERSION;
  task_id: string;
  operation_id: string;
  task_type: string;
  title: string;
  target_ref: Ref;
  status: UpstreamStatus;
  stage: string;
  progress?: number;
  retry_count: number;
  retryable: boolean;
  auto_retry_allowed: boolean;
  idempotency_key: string;
  responsible_actor: ResponsibleActor;
  final_artifact_id?: string;
  error?: { error_class: string; error_code?: string; user_message: string; retryable: boolean; responsible_actor: ResponsibleActor };
}

export interface ProphetOperationEvent {
  schema_version: typeof SCHEMA_VERSION;
  event_id: string;
  event_type: string;
  operation_id: string;
  task_id: string;
  actor: Actor;
  occurred_at: string;
  payload: Record<string, unknown>;
}

export interface ProphetCoreRecords {
  workspaceOperation: ProphetWorkspaceOperation;
  operationTasks: ProphetOperationTask[];
  operationEvents: ProphetOperationEvent[];
}

export function buildProphetCoreRecords(inputs: RecordInputs): ProphetCoreRecords {
  return { workspaceOperation: workspaceOperation(inputs), operationTasks: [operationTask(inputs)], operationEvents: operationEvents(inputs) };
}

function targetRef(inputs: RecordInputs): Ref {
  const { obj } = inputs;
  const resource = RESOURCES[obj.kind];
  return { ref_type: `agentmachine.sourceos.dev/${obj.kind}`, ref_id: uidOf(obj), uri: `k8s://${resource.apiPath(obj.metadata.namespace, obj.metadata.name)}` };
}

/** The agent acts; the user it acts for delegated. Without a delegation (a profile), the controller acts. */
function actors(inputs: RecordInputs): { actor: Actor; delegated_by?: Actor } {
  const delegation = delegationOf(inputs.obj);
  if (!delegation) return { actor: { actor_type: 'system', actor_id: CONTROLLER_ACTOR } };
  return { actor: { actor_type: 'agent', actor_id: delegation.delegate }, delegated_by: { actor_type: 'user', actor_id: delegation.delegator } };
}

/** Content-addressed outputs the object's status names (a container record's collected outputs). */
function artifactIds(inputs: RecordInputs): string[] {
  const outputs = (inputs.obj.status as { outputs?: Array<{ digest?: string; admitted?: boolean }> } | undefined)?.outputs ?? [];
  return outputs.filter((o) => o.admitted && typeof o.digest === 'string').map((o) => (o.digest!.startsWith('sha256:') ? o.digest! : `sha256:${o.digest}`));
}

function workspaceOperation(inputs: RecordInputs): ProphetWorkspaceOperation {
  const { obj, profile } = inputs;
  const operation = operationOf(obj);
  const profileName = obj.kind === 'AgentMachineProfile' ? obj.metadata.name : (profile?.metadata.name ?? (obj.spec as { profileRef?: { name?: string } }).profileRef?.name);
  const uid = uidOf(obj);
  return {
    schema_version: SCHEMA_VERSION,
    operation_id: operation.operationId,
    operation_type: operation.operationType,
    ...actors(inputs),
    target: targetRef(inputs),
    status: upstreamStatus(obj),
    // The command ref is derived from the UID and the command, so a replayed command carries the same key.
    idempotency_key: operation.commandRef,
    ...(profileName ? { capability_profile_id: `urn:srcos:agent-machine:profile:${profileName}` } : {}),
    task_ids: [operation.taskId],
    artifact_ids: artifactIds(inputs),
    policy_gate_ids: decisionsOf(inputs).map(({ decision }) => gateIdFor(uid, decision)),
    // agent-machine decides by policy; it raises no DecisionCards (nothing waits for a human choice).
    decision_ids: [],
    created_at: createdAt(obj, inputs.now),
    updated_at: updatedAt(inputs),
    metadata: {
      source: 'agent-machine',
      kind: obj.kind,
      name: obj.metadata.name,
      ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
      commandRef: operation.commandRef,
      state: operation.state,
      // The upstream WorkspaceOperationContract's artifacts object is closed, so a container's
      // output decisions travel here (artifact_ids names only the admitted ones).
      ...(obj.kind === 'ContainerExecutionRecord' && obj.status?.outputs?.length ? { outputs: artifactRecords(obj) } : {}),
    },
  };
}

/** Who can unblock a blocked or failed operation: a denial is the profile's (workspace owner's) or the delegator's. */
function responsibleFor(inputs: RecordInputs): ResponsibleActor {
  const denial = decisionsOf(inputs).find(({ decision }) => !decision.allowed)?.decision;
  if (!denial) return upstreamStatus(inputs.obj) === 'failed' ? 'agent_operator' : 'system';
  return denial.gate === 'authority' || denial.gate === 'budget' || denial.gate === 'delegation' ? 'current_user' : 'workspace_owner';
}

function operationTask(inputs: RecordInputs): ProphetOperationTask {
  const { obj } = inputs;
  const operation = operationOf(obj);
  const status = upstreamStatus(obj);
  const phase = (obj.status as { phase?: string; state?: string } | undefined)?.phase ?? (obj.status as { state?: string } | undefined)?.state;
  const events = operation.events ?? [];
  const lastFailure = [...events].reverse().find((e) => e.eventType === 'failure' || e.eventType === 'cancel');
  const retries = obj.kind === 'LocalAgentExecution' ? Math.max(0, (obj.status?.attempts ?? 1) - 1) : events.filter((e) => e.eventType === 'retry').length;
  const responsible = responsibleFor(inputs);
  const final = artifactIds(inputs)[0];
  return {
    schema_version: SCHEMA_VERSION,
    task_id: operation.taskId,
    operation_id: operation.operationId,
    task_type: operation.operationType,
    title: `${operation.operationType} ${obj.kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata.name ?? ''}`,
    target_ref: targetRef(inputs),
    status,
    stage: phase ?? operation.state,
    ...(status === 'completed' ? { progress: 1 } : {}),
    retry_count: retries,
    // A finished object is not run again: a new attempt is a new object (and a new operation).
    retryable: false,
    auto_retry_allowed: obj.kind === 'LocalAgentExecution' && (obj.spec.retryPolicy?.maxRetries ?? 0) > 0,
    idempotency_key: operation.commandRef,
    responsible_actor: responsible,
    ...(final ? { final_artifact_id: final } : {}),
    ...(status === 'blocked' || status === 'failed'
      ? {
          error: {
            error_class: status === 'blocked' ? 'policy_denied' : 'operation_failed',
            ...(phase ? { error_code: phase } : {}),
            user_message: lastFailure?.details ?? (status === 'blocked' ? 'denied by policy' : 'failed'),
            retryable: false,
            responsible_actor: responsible,
          },
        }
      : {}),
  };
}

const EVENT_TYPE_OF_OUTCOME: Record<AuditOutcome, string> = {
  queued: 'workspace.operation.queued',
  allowed: 'workspace.operation.admitted',
  denied: 'workspace.operation.policy_blocked',
  started: 'workspace.operation.task_started',
  completed: 'workspace.operation.completed',
  failed: 'workspace.operation.task_failed',
  cancelled: 'workspace.operation.canceled',
  revoked: 'workspace.operation.revoked',
  expired: 'workspace.operation.expired',
};

const EVENT_TYPE_OF_STATUS_EVENT: Record<string, string> = {
  start: 'workspace.operation.task_started',
  progress: 'workspace.operation.progress',
  failure: 'workspace.operation.task_failed',
  retry: 'workspace.operation.task_retrying',
  cancel: 'workspace.operation.canceled',
  complete: 'workspace.operation.completed',
};

/**
 * From the audit trail when there is one: every entry is one event, its id the entry's place in
 * the hash chain. Without it, status.operation.events (which the CRD caps at 32) stand in, with
 * ids that say where they came from.
 */
function operationEvents(inputs: RecordInputs): ProphetOperationEvent[] {
  const { obj } = inputs;
  const operation = operationOf(obj);
  const uid = uidOf(obj);
  if (inputs.audit.length > 0) {
    return inputs.audit.map((entry: AuditEntry) => ({
      schema_version: SCHEMA_VERSION,
      event_id: auditEventId(entry),
      event_type: entry.outcome === 'failed' && isDeniedEntry(entry) ? EVENT_TYPE_OF_OUTCOME.denied : EVENT_TYPE_OF_OUTCOME[entry.outcome],
      // Each entry is about the command it names; commands of one object share its operation id.
      operation_id: operation.operationId,
      task_id: operation.taskId,
      actor: entry.delegate ? { actor_type: 'agent', actor_id: entry.delegate } : { actor_type: 'user', actor_id: entry.actor },
      occurred_at: isoTime(entry.at) ?? entry.at,
      payload: {
        operationType: entry.operationType,
        commandRef: entry.commandRef,
        outcome: entry.outcome,
        reason: entry.reason,
        ...(entry.delegate ? { delegator: entry.actor } : {}),
        policyGateIds: (entry.decisions ?? []).map((d) => gateIdFor(uid, d)),
        audit: { seq: entry.seq, hash: entry.hash, prevHash: entry.prevHash, evidenceRef: auditEvidenceRef(entry) },
      },
    }));
  }
  const actor = actors(inputs).actor;
  return (operation.events ?? []).map((event, index) => ({
    schema_version: SCHEMA_VERSION,
    event_id: `${operation.operationId}:status-event:${index}`,
    event_type: event.eventType === 'failure' && upstreamStatus(obj) === 'blocked' ? EVENT_TYPE_OF_OUTCOME.denied : EVENT_TYPE_OF_STATUS_EVENT[event.eventType]!,
    operation_id: operation.operationId,
    task_id: operation.taskId,
    actor,
    occurred_at: isoTime(event.at) ?? event.at,
    payload: { source: 'status.operation.events', eventType: event.eventType, ...(event.details ? { details: event.details } : {}) },
  }));
}

/** A failed entry that carries a denial is a policy block, as status reports it. */
function isDeniedEntry(entry: AuditEntry): boolean {
  return (entry.decisions ?? []).some((d) => !d.allowed);
}
