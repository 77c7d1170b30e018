// prophet-core-contracts' PolicyGateRecord (schemas/decision-policy-adapter.schema.json), one per
// policy decision about the object, allowed ones included. Chosen over policy-fabric's
// PolicyGateRecord / PolicyEvaluationResponse because those fix gate_type to artifact-admission
// types and command to Operation Plane commands, neither of which can name agent-machine's gates
// (authority, budget, toolGrant, networkProfile...) or commands; prophet-core's takes any gate
// type and links by operation_id to the WorkspaceOperation this project also emits.
// Mapping table: docs/contracts.md.
import type { PolicyDecision } from '../types.generated.ts';
import { auditEvidenceRef, decisionsOf, gateIdFor, isoTime, operationOf, uidOf, type RecordInputs } from './common.ts';

export interface PolicyGateRecord {
  schema_version: '0.1.0';
  gate_id: string;
  operation_id: string;
  gate_type: string;
  status: 'passed' | 'blocking';
  explanation: string;
  responsible_actor: string;
  remediation_options: string[];
  audit_required: true;
  evidence_refs: string[];
  evaluated_at?: string;
}

/** Who can change a denial: the delegator for their own rights and budget, the profile's owner for policy. */
function responsibleActor(decision: PolicyDecision): string {
  if (decision.allowed) return 'system';
  return decision.gate === 'authority' || decision.gate === 'budget' ? 'current_user' : 'workspace_owner';
}

function remediation(decision: PolicyDecision): string[] {
  if (decision.allowed) return [];
  if (decision.gate === 'authority') return ['grant the delegator the RBAC the decision names', 'delegate from a user who has it'];
  if (decision.gate === 'budget') return ['request a budget within the profile ceilings'];
  return [`change the object to satisfy rule ${decision.rule}`, 'ask the profile owner to change the profile'];
}

export function buildPolicyGateRecords(inputs: RecordInputs): PolicyGateRecord[] {
  const uid = uidOf(inputs.obj);
  const operationId = operationOf(inputs.obj).operationId;
  return decisionsOf(inputs).map(({ decision, entries }) => {
    const evaluated = isoTime(entries.at(-1)?.at);
    return {
      schema_version: '0.1.0',
      gate_id: gateIdFor(uid, decision),
      operation_id: operationId,
      gate_type: `agent_machine.${decision.gate}`,
      status: decision.allowed ? 'passed' : 'blocking',
      explanation: `${decision.rule}: ${decision.message}`,
      responsible_actor: responsibleActor(decision),
      remediation_options: remediation(decision),
      audit_required: true,
      evidence_refs: entries.map(auditEvidenceRef),
      ...(evaluated ? { evaluated_at: evaluated } : {}),
    };
  });
}
