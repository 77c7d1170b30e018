// workstation-contracts' LocalAgentExecution (schemas/workspace-ops/local-agent-execution.schema.json),
// the record its conformance fixture local-agent-execution-ok names agent-machine for. Only a
// LocalAgentExecution has one. Upstream requires a prior PolicyGateRecord: policyGateId names
// the gate record that decided admission (the first denial when denied, else the last
// admitting decision), or, before the controller decided, the profile gate that will.
// Mapping table: docs/contracts.md.
import type { LocalAgentExecution } from '../types.generated.ts';
import { auditEvidenceRef, decisionsOf, deviceIdFor, gateIdFor, isoTime, operationOf, profileGateRef, uidOf, type RecordInputs } from './common.ts';

export const LOCAL_AGENT_EXECUTION_SCHEMA_VERSION = 'workspace-ops/local-agent-execution/v1';

type SideEffectClass = 'none' | 'filesystem' | 'network' | 'filesystem+network';
export type LocalAgentExecutionStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'gated';

export interface UpstreamLocalAgentExecution {
  id: string;
  operationId: string;
  deviceId: string;
  taskId: string;
  schemaVersion: typeof LOCAL_AGENT_EXECUTION_SCHEMA_VERSION;
  agentId: string;
  startedAt: string;
  endedAt?: string;
  status: LocalAgentExecutionStatus;
  sideEffects: { classification: SideEffectClass; filesWritten: string[]; networkTargets: string[] };
  policyGateId: string;
  evidenceRef?: string;
  tokenUsage?: { totalTokens: number };
}

/** The agent implementation, as the upstream fixture names it; the agent identity (delegate) has no field. */
export const AGENT_ID = 'agent-machine';

const STATUS_OF_PHASE: Record<NonNullable<NonNullable<LocalAgentExecution['status']>['phase']>, LocalAgentExecutionStatus> = {
  Pending: 'pending',
  Queued: 'pending',
  Running: 'running',
  Retrying: 'running',
  Succeeded: 'completed',
  Failed: 'failed',
  Cancelled: 'cancelled',
  Denied: 'gated',
};

export function buildLocalAgentExecution(inputs: RecordInputs): UpstreamLocalAgentExecution {
  const { obj } = inputs;
  if (obj.kind !== 'LocalAgentExecution') throw new Error(`the local-agent-execution format is a LocalAgentExecution's; ${obj.kind} has none`);
  const uid = uidOf(obj);
  const operation = operationOf(obj);
  const status = STATUS_OF_PHASE[obj.status?.phase ?? 'Pending'];
  const startedAt = isoTime(obj.status?.startedAt) ?? isoTime(obj.metadata.creationTimestamp) ?? inputs.now.toISOString();
  const endedAt = isoTime(obj.status?.finishedAt);
  const decisions = decisionsOf(inputs).map(({ decision }) => decision);
  const deciding = decisions.find((d) => !d.allowed) ?? decisions.filter((d) => d.allowed).at(-1);
  const evidence = inputs.audit.at(-1);
  const tokens = obj.status?.budget?.used?.tokens;
  return {
    id: `urn:srcos:local-agent-execution:${uid}`,
    operationId: operation.operationId,
    deviceId: deviceIdFor(inputs.device),
    taskId: operation.taskId,
    schemaVersion: LOCAL_AGENT_EXECUTION_SCHEMA_VERSION,
    agentId: AGENT_ID,
    startedAt,
    ...(endedAt ? { endedAt } : {}),
    status,
    sideEffects: sideEffects(obj),
    policyGateId: deciding ? gateIdFor(uid, deciding) : profileGateRef(obj, 'containerExecution'),
    ...(evidence ? { evidenceRef: auditEvidenceRef(evidence) } : {}),
    ...(typeof tokens === 'number' ? { tokenUsage: { totalTokens: tokens } } : {}),
  };
}

/**
 * What the execution may change, from its spec: a workspace mount or a declared output writes
 * files; any network mode but none reaches out (the gateway counts: model and tool calls leave
 * the sandbox through it). Declared, not observed: upstream asks for the declaration.
 */
function sideEffects(ex: LocalAgentExecution): UpstreamLocalAgentExecution['sideEffects'] {
  const files = ex.spec.containers.flatMap((c) => [...(c.workspace ? [c.workspace.mountPath ?? c.workspace.hostPath] : []), ...(c.outputs ?? []).map((o) => o.path)]);
  const mode = ex.spec.network?.mode ?? 'gateway-only';
  const network = mode !== 'none' || (ex.spec.tools ?? []).length > 0 || ex.spec.modelProviderRef !== undefined;
  const targets = mode === 'allowlist' ? [...(ex.spec.network?.egressAllowlist ?? [])] : mode === 'none' ? [] : [mode === 'open' ? '*' : 'agent-machine-gateway'];
  const classification: SideEffectClass = files.length > 0 ? (network ? 'filesystem+network' : 'filesystem') : network ? 'network' : 'none';
  return { classification, filesWritten: [...new Set(files)], networkTargets: targets };
}
