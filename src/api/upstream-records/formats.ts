// The formats `agent-machine contract --format` speaks, one per upstream record family, and
// what each produces for one object. workspace-operation is this project's own contract
// (workspace-operation-contract.ts); the others are pure mappings in this folder.
import { buildWorkspaceOperationContract } from '../workspace-operation-contract.ts';
import { buildAgentRegistryRecords } from './agent-registry.ts';
import type { RecordInputs } from './common.ts';
import { buildLocalAgentExecution } from './local-agent-execution.ts';
import { buildLocalOperationLog } from './local-operation-log.ts';
import { buildPolicyGateRecords } from './policy-gate.ts';
import { buildProphetCoreRecords } from './prophet-core.ts';

export const CONTRACT_FORMATS = ['workspace-operation', 'prophet-core', 'local-agent-execution', 'agent-registry', 'policy-gate', 'local-operation-log'] as const;
export type ContractFormat = (typeof CONTRACT_FORMATS)[number];

/** Formats built from audit entries: without the trail they say less (prophet-core) or nothing (the rest). */
export const AUDIT_FORMATS: ReadonlySet<ContractFormat> = new Set(['prophet-core', 'agent-registry', 'policy-gate', 'local-operation-log', 'local-agent-execution']);

export function buildFormat(format: ContractFormat, inputs: RecordInputs): unknown {
  switch (format) {
    case 'workspace-operation':
      return buildWorkspaceOperationContract(inputs.obj, { ...(inputs.profile ? { profile: inputs.profile } : {}), now: inputs.now });
    case 'prophet-core':
      return buildProphetCoreRecords(inputs);
    case 'local-agent-execution':
      return buildLocalAgentExecution(inputs);
    case 'agent-registry':
      return buildAgentRegistryRecords(inputs);
    case 'policy-gate':
      return buildPolicyGateRecords(inputs);
    case 'local-operation-log':
      return buildLocalOperationLog(inputs.audit, { device: inputs.device, auditStore: inputs.auditStore ?? 'file' });
  }
}
