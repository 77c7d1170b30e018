// The WorkspaceOperationContract of one agent-machine object: the upstream SourceOS document
// (contracts/workspace-operation-contract.schema.json describes exactly what is built here)
// projected from the object, its status.operation and the profile that governs it. Pure: the
// caller reads the objects and passes the clock.
//
// The contract is a fixed-shape statement about the product, so it has no room for spec values:
// only names, UIDs, profile types and budget numbers go in. Nothing that could be a secret
// (env values, endpoints, credentials refs, prompts) is ever copied.
import type {
  AgentMachineDiagnosticBundle,
  AgentMachineProfile,
  Budget,
  ContainerExecutionRecord,
  LocalAgentExecution,
  ModelProviderBinding,
  Operation,
  OperationEvent,
  OperationType,
  PolicyGate,
  ProfileType,
  ToolGrantRecord,
} from './types.generated.ts';
import { COMMON_SCHEMA_FILE, readSchemaFile } from './contracts.ts';
import { KINDS, type KindName } from './group.ts';
import { operationIds, type OperationEventType, type OperationState } from './operation.ts';
import { BUDGET_DIMENSIONS, fitBudget, type FullBudget } from '../governance/budget.ts';
import { isLocalHost, parseEndpoint } from '../governance/endpoints.ts';
import { metaTime } from '../operator/time.ts';

export type AgentMachineObject =
  | AgentMachineProfile
  | ToolGrantRecord
  | LocalAgentExecution
  | ContainerExecutionRecord
  | ModelProviderBinding
  | AgentMachineDiagnosticBundle;

export const CONTRACT_SPEC_VERSION = '0.1.0';
export const CONTRACT_ID_PREFIX = 'urn:srcos:agent-machine:workspace-operation-contract:';
/** Marks an operationEvents entry the object has not emitted: upstream wants every event type listed. */
export const DECLARED_EVENT_PREFIX = 'declared, not yet observed: ';

// What the product supports comes from the enums the CRDs are generated from, so the contract
// cannot claim a type the API does not accept, nor miss one it does.
const COMMON_DEFS = readSchemaFile(COMMON_SCHEMA_FILE)['$defs'] as Record<string, { enum?: unknown[]; properties?: Record<string, { enum?: unknown[] }> }>;

function commonEnum<T extends string>(def: string, property?: string): readonly T[] {
  const node = property === undefined ? COMMON_DEFS[def] : COMMON_DEFS[def]?.properties?.[property];
  if (!Array.isArray(node?.enum)) throw new Error(`${COMMON_SCHEMA_FILE}: $defs.${def}${property ? `.${property}` : ''} has no enum`);
  return Object.freeze([...node.enum]) as readonly T[];
}

export const SUPPORTED_OPERATION_TYPES = commonEnum<OperationType>('operationType');
export const SUPPORTED_PROFILE_TYPES = commonEnum<ProfileType>('profileType');
export const POLICY_GATES = commonEnum<PolicyGate>('policyGate');
export const OPERATION_EVENT_TYPES = commonEnum<OperationEventType>('operationEvent', 'eventType');

/** The operation types each kind carries (DESIGN §2); the first is the one a new object starts with. */
export const KIND_OPERATION_TYPES: Readonly<Record<KindName, readonly OperationType[]>> = {
  AgentMachineProfile: ['agent_machine.profile.create'],
  ToolGrantRecord: ['agent_machine.tool_grant.apply', 'agent_machine.tool_grant.revoke'],
  LocalAgentExecution: ['agent_machine.execution.start', 'agent_machine.execution.cancel'],
  ContainerExecutionRecord: ['agent_machine.container.run'],
  ModelProviderBinding: ['agent_machine.model_provider.bind'],
  AgentMachineDiagnosticBundle: ['agent_machine.diagnostics.export_redacted'],
};

export function primaryOperationType(kind: KindName): OperationType {
  return KIND_OPERATION_TYPES[kind][0]!;
}

const MODEL_PROVIDER_PROFILE_TYPES = ['local_model_provider', 'hosted_model_provider', 'user_owned_model'] as const;
export type ModelProviderProfileType = (typeof MODEL_PROVIDER_PROFILE_TYPES)[number];

export interface AuditableCommand {
  operationType: OperationType;
  commandRef: string;
  auditable: true;
}

export interface WorkspaceOperationContract {
  specVersion: typeof CONTRACT_SPEC_VERSION;
  id: string;
  kind: 'WorkspaceOperationContract';
  workspaceOperation: { operationId: string; operationType: OperationType; commandRef: string };
  operationTask: { taskId: string; state: OperationState };
  supportedOperationTypes: OperationType[];
  profiles: {
    supported: ProfileType[];
    inspectableSeparation: {
      personalVsCorporateFirewall: true;
      corporateVsMultiCorporateFirewall: true;
      enterpriseFirewallVsUserOwnedModel: true;
    };
  };
  artifacts: {
    requiredArtifacts: KindName[];
    agentMachineProfile: { kind: 'AgentMachineProfile'; profileType: ProfileType };
    localAgentExecution: { kind: 'LocalAgentExecution'; delegationRef: string; budget: FullBudget };
    toolGrantRecord: { kind: 'ToolGrantRecord'; applyCommandRef: string; revokeCommandRef: string };
    containerExecutionRecord: { kind: 'ContainerExecutionRecord'; operationType: 'agent_machine.container.run' };
    modelProviderBinding: {
      kind: 'ModelProviderBinding';
      operationType: 'agent_machine.model_provider.bind';
      profileType: ModelProviderProfileType;
      policyGateRef: string;
    };
    agentMachineDiagnosticBundle: {
      kind: 'AgentMachineDiagnosticBundle';
      operationType: 'agent_machine.diagnostics.export_redacted';
      credentialsIncluded: false;
      tokensIncluded: false;
      localSecretsIncluded: false;
      sensitivePromptsIncluded: false;
    };
  };
  controls: {
    delegatedAuthorityRequired: true;
    policyGates: Record<PolicyGate, true>;
    budget: FullBudget;
    operationEvents: OperationEvent[];
    durableWorkspaceState: { mode: 'operation-contract-only'; externalWrites: false };
    ambientAuthority: false;
  };
  audit: { auditableCommands: AuditableCommand[] };
}

export interface ContractOptions {
  /** The AgentMachineProfile the object references (ignored for a profile, which governs itself). */
  profile?: AgentMachineProfile;
  /** Stamped on declared (not yet observed) events. */
  now: Date;
}

export function contractIdFor(kind: KindName, uid: string): string {
  return `${CONTRACT_ID_PREFIX}${kind.toLowerCase()}-${uid.toLowerCase()}`;
}

/** Name of the profile the object is governed by; a diagnostic bundle names none. */
export function profileNameOf(obj: AgentMachineObject): string | undefined {
  if (obj.kind === 'AgentMachineProfile') return obj.metadata.name;
  return 'profileRef' in obj.spec ? obj.spec.profileRef?.name : undefined;
}

/**
 * Names the delegation an object acts under: its spec.authority. The kind is part of the name
 * because names are unique per kind only (a grant and an execution may share one).
 */
export function delegationRefFor(obj: AgentMachineObject): string {
  const { namespace, name } = obj.metadata;
  return ['urn:srcos:delegation', obj.kind.toLowerCase(), ...(namespace ? [namespace] : []), name].join(':');
}

export function buildWorkspaceOperationContract(obj: AgentMachineObject, options: ContractOptions): WorkspaceOperationContract {
  const uid = obj.metadata.uid?.toLowerCase();
  if (!uid || !/^[a-z0-9][a-z0-9-]*$/.test(uid)) {
    throw new Error(`${obj.kind} ${obj.metadata.name ?? '?'}: a contract needs the object's metadata.uid (read it from the API server)`);
  }
  const profile = governingProfile(obj, options.profile);
  const operation = currentOperation(obj, uid);
  const budget = effectiveBudget(obj, profile);
  const commands = auditableCommands(obj, uid, operation, profile);
  const commandRefOf = (type: OperationType): string => commands.find((c) => c.operationType === type)!.commandRef;
  return {
    specVersion: CONTRACT_SPEC_VERSION,
    id: contractIdFor(obj.kind, uid),
    kind: 'WorkspaceOperationContract',
    workspaceOperation: { operationId: operation.operationId, operationType: operation.operationType, commandRef: operation.commandRef },
    operationTask: { taskId: operation.taskId, state: operation.state },
    supportedOperationTypes: [...SUPPORTED_OPERATION_TYPES],
    profiles: {
      supported: [...SUPPORTED_PROFILE_TYPES],
      // Each profile type has its own built-in rules, listed in the profile's status.effective.rules.
      inspectableSeparation: {
        personalVsCorporateFirewall: true,
        corporateVsMultiCorporateFirewall: true,
        enterpriseFirewallVsUserOwnedModel: true,
      },
    },
    artifacts: {
      requiredArtifacts: [...KINDS],
      agentMachineProfile: { kind: 'AgentMachineProfile', profileType: governingProfileType(profile) },
      localAgentExecution: { kind: 'LocalAgentExecution', delegationRef: delegationRefFor(obj), budget },
      toolGrantRecord: {
        kind: 'ToolGrantRecord',
        applyCommandRef: commandRefOf('agent_machine.tool_grant.apply'),
        revokeCommandRef: commandRefOf('agent_machine.tool_grant.revoke'),
      },
      containerExecutionRecord: { kind: 'ContainerExecutionRecord', operationType: 'agent_machine.container.run' },
      modelProviderBinding: {
        kind: 'ModelProviderBinding',
        operationType: 'agent_machine.model_provider.bind',
        profileType: modelProviderProfileType(obj, profile),
        policyGateRef: policyGateRef(obj, 'modelProviderUse'),
      },
      // The bundle exporter redacts these four categories for every bundle; nothing else is exported.
      agentMachineDiagnosticBundle: {
        kind: 'AgentMachineDiagnosticBundle',
        operationType: 'agent_machine.diagnostics.export_redacted',
        credentialsIncluded: false,
        tokensIncluded: false,
        localSecretsIncluded: false,
        sensitivePromptsIncluded: false,
      },
    },
    controls: {
      delegatedAuthorityRequired: true,
      policyGates: Object.fromEntries(POLICY_GATES.map((gate) => [gate, true])) as Record<PolicyGate, true>,
      budget,
      operationEvents: operationEvents(obj, operation, options.now),
      // Everything agent-machine keeps about an operation lives in the object's status.
      durableWorkspaceState: { mode: 'operation-contract-only', externalWrites: false },
      ambientAuthority: false,
    },
    audit: { auditableCommands: commands },
  };
}

function governingProfile(obj: AgentMachineObject, given: AgentMachineProfile | undefined): AgentMachineProfile | undefined {
  if (obj.kind === 'AgentMachineProfile') return obj;
  if (!given) return undefined;
  const wanted = profileNameOf(obj);
  if (given.metadata.name !== wanted) {
    throw new Error(`${obj.kind} ${obj.metadata.name ?? '?'} references profile ${wanted ?? '(none)'}, not ${given.metadata.name ?? '?'}`);
  }
  return given;
}

/**
 * `personal` when the profile is unknown (a diagnostic bundle references none, or the profile
 * could not be read): upstream requires a profile type, and personal is the type whose
 * built-in rules assume nothing about an organisation.
 */
function governingProfileType(profile: AgentMachineProfile | undefined): ProfileType {
  return profile?.spec.profileType ?? 'personal';
}

/** status.operation as the controller wrote it; before the first reconcile, the queued primary operation. */
function currentOperation(obj: AgentMachineObject, uid: string): Operation {
  const observed = obj.status?.operation;
  if (observed) return observed;
  const operationType = primaryOperationType(obj.kind);
  return { ...operationIds(uid, operationType), operationType, state: 'queued' };
}

/**
 * The budget that bounds the object: an execution's admitted budget once the controller set
 * it; otherwise what admission would make of the request (missing dimensions take the
 * profile's ceiling, each dimension capped by it: fitBudget, as the reconcilers use); without
 * a profile, the request with missing dimensions 0, as nothing grants more.
 */
function effectiveBudget(obj: AgentMachineObject, profile: AgentMachineProfile | undefined): FullBudget {
  if (obj.kind === 'LocalAgentExecution' && obj.status?.budget?.effective) return complete(obj.status.budget.effective);
  const requested = 'budget' in obj.spec ? obj.spec.budget : undefined;
  if (profile) return fitBudget(requested, profile.spec.budgetCeilings).effective;
  return complete(requested);
}

function complete(budget: Budget | undefined): FullBudget {
  const full = {} as FullBudget;
  for (const dimension of BUDGET_DIMENSIONS) full[dimension] = budget?.[dimension] ?? 0;
  return full;
}

/**
 * Upstream allows only three types here. The profile decides when it is one of them (an
 * airgapped profile only admits local providers); a binding under another profile is
 * classified by its endpoint and owner; anything else by the model hosts its profile allows.
 * Unknown falls back to hosted_model_provider: claiming prompts stay local without evidence
 * would overstate the protection.
 */
export function modelProviderProfileType(obj: AgentMachineObject, profile: AgentMachineProfile | undefined): ModelProviderProfileType {
  const type = profile?.spec.profileType;
  if ((MODEL_PROVIDER_PROFILE_TYPES as readonly string[]).includes(type ?? '')) return type as ModelProviderProfileType;
  if (type === 'airgapped_local_only') return 'local_model_provider';
  if (obj.kind === 'ModelProviderBinding') {
    const endpoint = parseEndpoint(obj.spec.endpoint);
    if (!('error' in endpoint) && isLocalHost(endpoint.hostname)) return 'local_model_provider';
    return obj.spec.owner === obj.spec.authority.delegator ? 'user_owned_model' : 'hosted_model_provider';
  }
  const hosts = profile?.spec.modelProviders?.allowedHosts ?? [];
  return hosts.length > 0 && hosts.every(isLocalAllowlistEntry) ? 'local_model_provider' : 'hosted_model_provider';
}

/** Allowlist entries are host, *.domain, each with an optional :port (see hostAllowed). */
function isLocalAllowlistEntry(entry: string): boolean {
  const host = entry.toLowerCase().replace(/^\*\./, '').replace(/:\d{1,5}$/, '');
  return isLocalHost(host);
}

/** The gate of the governing profile (its built-in and CEL rules); without a profile, the gate's built-in rules. */
function policyGateRef(obj: AgentMachineObject, gate: PolicyGate): string {
  const profile = profileNameOf(obj);
  return profile ? `urn:srcos:policy-gate:agentmachineprofile:${profile}:${gate}` : `urn:srcos:policy-gate:${gate}`;
}

const EMITTED_BY: Record<OperationEventType, (operationType: OperationType) => string> = {
  start: (op) => `the controller records start when it admits ${op} under the delegation`,
  progress: (op) => `the controller records progress while ${op} is pending or advancing`,
  failure: (op) => `the controller records failure when a gate (authority, policy, budget) denies ${op} or it fails`,
  retry: (op) => `the controller records retry when ${op} is attempted again after a failure`,
  cancel: (op) => `the controller records cancel when ${op} is cancelled or its delegation expires first`,
  complete: (op) => `the controller records complete when ${op} finishes`,
};

/**
 * The object's own events, in order, then one declared entry per event type it has not
 * emitted. A declared entry says so in its details and is never presented as observed.
 */
function operationEvents(obj: AgentMachineObject, operation: Operation, now: Date): OperationEvent[] {
  const observed = [...(obj.status?.operation?.events ?? [])];
  const seen = new Set(observed.map((e) => e.eventType));
  const at = metaTime(now);
  const declared = OPERATION_EVENT_TYPES.filter((t) => !seen.has(t)).map(
    (eventType): OperationEvent => ({ eventType, at, details: DECLARED_EVENT_PREFIX + EMITTED_BY[eventType](operation.operationType) }),
  );
  return [...observed, ...declared];
}

export function isDeclaredEvent(event: OperationEvent): boolean {
  return event.details?.startsWith(DECLARED_EVENT_PREFIX) ?? false;
}

/**
 * The commands of the object's kind, then the grant commands upstream requires in every
 * contract. A grant has its own; any other object lists those of the grants under its profile
 * (their policy source), keyed by the profile's UID as every command is keyed by a UID.
 */
function auditableCommands(obj: AgentMachineObject, uid: string, operation: Operation, profile: AgentMachineProfile | undefined): AuditableCommand[] {
  const command = (operationType: OperationType, keyUid: string): AuditableCommand => ({
    operationType,
    // The controller's ref wins for the command it is running; the others are derived the same way.
    commandRef: operation.operationType === operationType ? operation.commandRef : operationIds(keyUid, operationType).commandRef,
    auditable: true,
  });
  const own = KIND_OPERATION_TYPES[obj.kind].map((operationType) => command(operationType, uid));
  const grantScopeUid = profile?.metadata.uid?.toLowerCase() ?? uid;
  const grants = (['agent_machine.tool_grant.apply', 'agent_machine.tool_grant.revoke'] as const)
    .filter((operationType) => !own.some((c) => c.operationType === operationType))
    .map((operationType) => command(operationType, grantScopeUid));
  return [...own, ...grants];
}
