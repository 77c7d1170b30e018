// Objects for the upstream record tests: every agent-machine object in examples/, given a UID,
// in the states a reconciler leaves it (before the first reconcile, completed, denied,
// cancelled), with the audit chain the controller would have written about it (real entries
// from entryFor, so seq, prevHash and hash are the chain's own).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isKindName } from '../../src/api/group.ts';
import { nextOperation } from '../../src/api/operation.ts';
import type { Operation, OperationEvent, OperationType, PolicyDecision } from '../../src/api/types.generated.ts';
import { primaryOperationType, type AgentMachineObject } from '../../src/api/workspace-operation-contract.ts';
import type { RecordInputs } from '../../src/api/upstream-records/common.ts';
import { entryFor, GENESIS_HASH, type AuditEntry, type AuditOutcome } from '../../src/governance/audit-log.ts';
import { allow, deny } from '../../src/governance/decision.ts';
import { loadAllYaml } from './yaml.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NOW = new Date('2026-05-07T12:00:00.000Z');
export const DEVICE = { clusterUid: '6f1c2d3e-0000-4a5b-8c7d-000000000001', node: 'node-a' };

export interface ExampleObject {
  file: string;
  obj: AgentMachineObject;
}

/** Every agent-machine object of every file under examples/, each with its own UID. */
export function exampleObjects(): ExampleObject[] {
  const out: ExampleObject[] = [];
  let n = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.ya?ml$/.test(entry.name)) {
        for (const doc of loadAllYaml(readFileSync(full, 'utf8')) as Array<{ kind?: unknown; metadata?: Record<string, unknown> } | null>) {
          if (!doc || !isKindName(doc.kind)) continue;
          n++;
          const uid = `0c5d3f6e-1a2b-4c3d-8e9f-${String(n).padStart(12, '0')}`;
          out.push({ file: path.relative(ROOT, full), obj: { ...doc, metadata: { ...doc.metadata, uid, creationTimestamp: '2026-05-07T00:00:00Z' } } as unknown as AgentMachineObject });
        }
      }
    }
  };
  walk(path.join(ROOT, 'examples'));
  return out;
}

export type Scenario = 'unreconciled' | 'completed' | 'denied' | 'cancelled';
export const SCENARIOS: readonly Scenario[] = ['unreconciled', 'completed', 'denied', 'cancelled'];

const ALLOWED: PolicyDecision[] = [allow('authority', 'authority.rbac', 'alice may create pods'), allow('containerExecution', 'builtin.containers.image-registry', 'registry allowed')];
const DENIED: PolicyDecision[] = [...ALLOWED.slice(0, 1), deny('networkProfile', 'builtin.network.open', 'network mode open is not allowed under this profile')];

/** The phase (or grant state) a reconciler sets for the scenario. */
function phaseOf(obj: AgentMachineObject, scenario: Scenario): Record<string, unknown> {
  const terminal = { completed: 'Succeeded', denied: 'Denied', cancelled: 'Cancelled' } as const;
  if (scenario === 'unreconciled') return {};
  switch (obj.kind) {
    case 'ToolGrantRecord':
      return { state: scenario === 'completed' ? 'Active' : scenario === 'denied' ? 'Denied' : 'Revoked', expiresAt: obj.spec.authority.expiresAt };
    case 'LocalAgentExecution':
      return { phase: terminal[scenario], startedAt: '2026-05-07T00:01:00Z', finishedAt: '2026-05-07T00:05:00Z', attempts: 1, budget: { used: { tokens: 1234 } } };
    case 'ContainerExecutionRecord':
      return { phase: terminal[scenario] };
    case 'AgentMachineProfile':
      return { phase: scenario === 'completed' ? 'Ready' : 'Invalid' };
    case 'ModelProviderBinding':
      return { phase: scenario === 'completed' ? 'Ready' : scenario === 'denied' ? 'Denied' : 'Unreachable' };
    case 'AgentMachineDiagnosticBundle':
      return { phase: scenario === 'completed' ? 'Ready' : scenario === 'denied' ? 'Denied' : 'Failed' };
  }
}

type Step = { state: Operation['state']; eventType: OperationEvent['eventType']; outcome: AuditOutcome; details: string; operationType?: OperationType };

const STEPS: Record<Exclude<Scenario, 'unreconciled'>, Step[]> = {
  completed: [
    { state: 'running', eventType: 'start', outcome: 'started', details: 'admitted under the delegation' },
    { state: 'completed', eventType: 'complete', outcome: 'completed', details: 'done' },
  ],
  denied: [{ state: 'failed', eventType: 'failure', outcome: 'denied', details: 'denied: network mode open is not allowed under this profile' }],
  cancelled: [
    { state: 'running', eventType: 'start', outcome: 'started', details: 'admitted under the delegation' },
    { state: 'cancelled', eventType: 'cancel', outcome: 'cancelled', details: 'cancelled by the delegator' },
  ],
};

/** A grant is applied (Active, outcome allowed), then revoked by its own command (tool-grant-reconciler.ts). */
const GRANT_STEPS: Record<Exclude<Scenario, 'unreconciled'>, Step[]> = {
  completed: [{ state: 'completed', eventType: 'complete', outcome: 'allowed', details: 'Active' }],
  denied: STEPS.denied,
  cancelled: [
    { state: 'completed', eventType: 'complete', outcome: 'allowed', details: 'Active' },
    { state: 'completed', eventType: 'complete', outcome: 'revoked', details: 'revoked by the delegator', operationType: 'agent_machine.tool_grant.revoke' },
  ],
};

/** The object as the scenario leaves it, and the audit entries about it (a chain of its own). */
export function scenario(obj: AgentMachineObject, which: Scenario): { obj: AgentMachineObject; audit: AuditEntry[] } {
  if (which === 'unreconciled') return { obj, audit: [] };
  const uid = obj.metadata.uid!;
  const type = primaryOperationType(obj.kind);
  const decisions = which === 'denied' ? DENIED : ALLOWED;
  let operation: Operation | undefined;
  let head = { seq: 0, hash: GENESIS_HASH };
  let at = Date.parse('2026-05-07T00:00:00Z');
  const audit: AuditEntry[] = [];
  const delegation = (obj.spec as { authority?: { delegator: string; delegate: string } }).authority;
  for (const step of (obj.kind === 'ToolGrantRecord' ? GRANT_STEPS : STEPS)[which]) {
    at += 60_000;
    const operationType = step.operationType ?? type;
    operation = nextOperation(operation, uid, { operationType, state: step.state, event: { eventType: step.eventType, details: step.details } }, new Date(at));
    const entry = entryFor(
      {
        operationType,
        commandRef: operation.commandRef,
        object: { kind: obj.kind, ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}), name: obj.metadata.name!, uid },
        actor: delegation?.delegator ?? 'system:agent-machine-controller',
        ...(delegation ? { delegate: delegation.delegate } : {}),
        outcome: step.outcome,
        reason: step.details,
        decisions,
      },
      head,
      new Date(at),
    );
    head = { seq: entry.seq, hash: entry.hash };
    audit.push(entry);
  }
  const status = { ...(obj.status ?? {}), ...phaseOf(obj, which), operation, decisions };
  return { obj: { ...obj, status } as AgentMachineObject, audit };
}

export function inputsFor(obj: AgentMachineObject, audit: AuditEntry[]): RecordInputs {
  return { obj, audit, device: DEVICE, now: NOW };
}
