// agent-registry's AgentToolGrant and AgentRevocationRecord
// (contracts/workspace-operations/records.v0.1.schema.json) from a ToolGrantRecord: the grant
// as applied, and its revocation state. Evidence is the audit entry of the command (apply or
// revoke), named by its chain position and hash, so a reader can verify it against the chain.
// Mapping table: docs/contracts.md.
import type { ToolGrantRecord } from '../types.generated.ts';
import { auditEvidenceRef, createdAt, isoTime, uidOf, type RecordInputs } from './common.ts';

const API_VERSION = 'agentregistry.socioprophet.dev/v1';

export interface AgentToolGrant {
  apiVersion: typeof API_VERSION;
  kind: 'AgentToolGrant';
  metadata: { grantId: string; agentId: string };
  spec: { agentId: string; allowedTools: string[]; scope: string; constraints: string[]; expiresAt: string; evidenceRef: string };
}

export interface AgentRevocationRecord {
  apiVersion: typeof API_VERSION;
  kind: 'AgentRevocationRecord';
  metadata: { revocationId: string; agentId: string; createdAt: string };
  spec: {
    agentId: string;
    revocationState: 'not-revoked' | 'revoked';
    revokedOperationTypes: string[];
    revokedTools: string[];
    reasonCodes: string[];
    evidenceRef: string;
  };
}

export interface AgentRegistryRecords {
  toolGrant: AgentToolGrant;
  revocation: AgentRevocationRecord;
}

/** Refused without the audit entry: the record's evidence is that entry's hash, and nothing else will do. */
export class MissingEvidence extends Error {
  override readonly name = 'MissingEvidence';
}

export function agentRefOf(delegate: string): string {
  return `agent://agent-machine/${delegate}`;
}

function toolRefs(grant: ToolGrantRecord): string[] {
  const actions = grant.spec.actions ?? [];
  return actions.length === 0 ? [`tool://agent-machine/${grant.spec.tool}`] : actions.map((a) => `tool://agent-machine/${grant.spec.tool}/${a}`);
}

export function buildAgentRegistryRecords(inputs: RecordInputs): AgentRegistryRecords {
  const { obj } = inputs;
  if (obj.kind !== 'ToolGrantRecord') throw new Error(`the agent-registry format is a ToolGrantRecord's; ${obj.kind} has none`);
  const uid = uidOf(obj);
  const agentId = agentRefOf(obj.spec.authority.delegate);
  // The apply that made the grant Active (tool-grant-reconciler audits it as allowed).
  const applied = [...inputs.audit].reverse().find((e) => e.operationType === 'agent_machine.tool_grant.apply' && e.outcome === 'allowed');
  if (!applied) {
    throw new MissingEvidence(
      `ToolGrantRecord ${obj.metadata.name ?? '?'}: no audit entry shows it activated (apply, allowed); the records' evidence is that entry's hash, so there is no grant to record (was it denied, or is the audit trail another one?)`,
    );
  }
  const state = obj.status?.state;
  const revoked = obj.spec.revoked === true || state === 'Revoked' || state === 'Expired';
  const revokeEntry = [...inputs.audit].reverse().find((e) => e.outcome === 'revoked' || e.outcome === 'expired');
  const tools = toolRefs(obj);
  const toolGrant: AgentToolGrant = {
    apiVersion: API_VERSION,
    kind: 'AgentToolGrant',
    metadata: { grantId: `grant://agent-machine/${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}/${uid}`, agentId },
    spec: {
      agentId,
      allowedTools: tools,
      scope: obj.spec.tenant ? `tenant:${obj.spec.tenant}` : `namespace:${obj.metadata.namespace ?? ''}`,
      constraints: [
        `delegator:${obj.spec.authority.delegator}`,
        `profile:${obj.spec.profileRef.name}`,
        // The gateway injects the connector's credential; the agent never holds it.
        ...(obj.spec.connector ? [`connector:${obj.spec.connector.protocol}`, 'credential-injected-by-gateway'] : []),
        'audit-required',
      ],
      expiresAt: isoTime(obj.status?.expiresAt) ?? isoTime(obj.spec.authority.expiresAt) ?? obj.spec.authority.expiresAt,
      evidenceRef: auditEvidenceRef(applied),
    },
  };
  const reasonCodes = !revoked ? ['active-authority'] : state === 'Expired' ? ['delegation-expired'] : ['revoked-by-delegator'];
  const evidence = revoked && revokeEntry ? revokeEntry : applied;
  const revocation: AgentRevocationRecord = {
    apiVersion: API_VERSION,
    kind: 'AgentRevocationRecord',
    metadata: { revocationId: `revocation://agent-machine/${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}/${uid}`, agentId, createdAt: isoTime(evidence.at) ?? createdAt(obj, inputs.now) },
    spec: {
      agentId,
      revocationState: revoked ? 'revoked' : 'not-revoked',
      // A grant is of tools; the operation types the delegation allows are not taken away by it.
      revokedOperationTypes: [],
      revokedTools: revoked ? tools : [],
      reasonCodes,
      evidenceRef: auditEvidenceRef(evidence),
    },
  };
  return { toolGrant, revocation };
}
