// What a gate is asked about, as plain data. The same object feeds the built-in rules and, as
// `request`, the profile's CEL rules, so it carries only what a policy may look at: never
// secret values (env values, credentials) and never prompt text.
import type {
  AgentMachineProfileSpec,
  ContainerSpec,
  ModelProviderBindingSpec,
  PolicyGate,
  ToolGrantRecordSpec,
} from '../api/types.generated.ts';

export type NetworkMode = NonNullable<AgentMachineProfileSpec['network']>['mode'];

export type ContainerExecutionRequest = {
  gate: 'containerExecution';
  image: string;
  command?: string[];
  args?: string[];
  /** Names only: values may be secrets. */
  envNames?: string[];
  /** The names of the variables taken from Secrets (valueFrom.secretKeyRef). */
  secretEnvNames?: string[];
  workingDir?: string;
  tenant?: string;
};

export type NetworkProfileRequest = {
  gate: 'networkProfile';
  /** A mode something asks for; it must be no more open than the profile's. */
  requestedMode?: NetworkMode;
  /** An execution's narrower egress allowlist; every entry must be covered by the profile's. */
  requestedAllowlist?: string[];
};

export type ModelProviderUseRequest = {
  gate: 'modelProviderUse';
  endpoint: string;
  provider: string;
  model?: string;
  hasCredential: boolean;
  owner: string;
  delegator: string;
  /** The binding's own tenant. */
  bindingTenant?: string;
  /** The tenant of the execution using the binding, when there is one. */
  tenant?: string;
};

export type ToolGrantRequest = {
  gate: 'toolGrant';
  tool: string;
  actions?: string[];
  /** The grant's own tenant. */
  grantTenant?: string;
  /** The tenant of the execution using the grant, when there is one. */
  tenant?: string;
  /** The grant's connector, when it has one: its protocol and endpoint URL. */
  protocol?: 'http' | 'mcp';
  endpoint?: string;
  /**
   * Set per call through a connector route (absent when the grant itself is admitted):
   * the action (an MCP tools/call's tool name; an http call's method), and the HTTP method and
   * path (after /v1/tools/<tool>, without the query string).
   */
  action?: string;
  method?: string;
  path?: string;
};

/** What a call through a connector adds to its grant's toolGrant request. */
export type ToolCallFacts = { action?: string; method: string; path: string };

export type ArtifactAccessRequest = {
  gate: 'artifactAccess';
  /** Host folder to mount read-only. */
  hostPath?: string;
  /** hostPath with every symlink resolved on the host, when the runtime mounts from this host. */
  resolvedHostPath?: string;
  /** Why hostPath could not be resolved (does not exist, not readable): it is not mounted then. */
  hostPathError?: string;
  mountPath?: string;
  /** Writable output paths inside the container. */
  outputs?: string[];
  tenant?: string;
  /** Set when a collected output is promoted into durable workspace state, not when the container is admitted. */
  promotion?: OutputCandidate;
};

/** A collected, stored output as the promotion rules see it. */
export type OutputCandidate = {
  /** Its name in spec.containers[].outputs. */
  name: string;
  /** Bytes of its tar archive. */
  size: number;
  /** Media types of its entries, read from their bytes (outputs/content-types.ts). */
  contentTypes: string[];
};

export type PolicyRequest =
  | ContainerExecutionRequest
  | NetworkProfileRequest
  | ModelProviderUseRequest
  | ToolGrantRequest
  | ArtifactAccessRequest;

export type RequestFor<G extends PolicyGate> = Extract<PolicyRequest, { gate: G }>;

export function containerExecutionRequest(container: ContainerSpec, tenant?: string): ContainerExecutionRequest {
  return {
    gate: 'containerExecution',
    image: container.image,
    ...(container.command ? { command: [...container.command] } : {}),
    ...(container.args ? { args: [...container.args] } : {}),
    ...(container.env ? { envNames: container.env.map((e) => e.name) } : {}),
    ...(container.env?.some((e) => e.valueFrom?.secretKeyRef) ? { secretEnvNames: container.env.filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name) } : {}),
    ...(container.workingDir ? { workingDir: container.workingDir } : {}),
    ...(tenant !== undefined ? { tenant } : {}),
  };
}

/** What resolving the workspace's hostPath on the host found (see reconcilers/workspace-path.ts). */
export type HostPathResolution = { resolvedHostPath: string } | { hostPathError: string };

export function artifactAccessRequest(container: ContainerSpec, tenant?: string, resolution?: HostPathResolution): ArtifactAccessRequest {
  return {
    gate: 'artifactAccess',
    ...(container.workspace ? { hostPath: container.workspace.hostPath, mountPath: container.workspace.mountPath ?? '/workspace', ...(resolution ?? {}) } : {}),
    outputs: (container.outputs ?? []).map((o) => o.path),
    ...(tenant !== undefined ? { tenant } : {}),
  };
}

/**
 * Every gate a container passes before it runs. `requestedMode` is the execution's (or the
 * record's) `spec.network.mode`: the container runs with it, so the policy must see it; so does
 * the proxy with `requestedAllowlist` (an execution's `spec.network.egressAllowlist`).
 */
export function containerRequests(container: ContainerSpec, tenant?: string, resolution?: HostPathResolution, requestedMode?: NetworkMode, requestedAllowlist?: string[]): PolicyRequest[] {
  return [
    containerExecutionRequest(container, tenant),
    artifactAccessRequest(container, tenant, resolution),
    { gate: 'networkProfile', ...(requestedMode !== undefined ? { requestedMode } : {}), ...(requestedAllowlist !== undefined ? { requestedAllowlist } : {}) },
  ];
}

/** executionDelegator: who uses the binding (an execution's delegator); the binding's own delegator otherwise. */
export function modelProviderUseRequest(binding: ModelProviderBindingSpec, executionTenant?: string, executionDelegator?: string): ModelProviderUseRequest {
  return {
    gate: 'modelProviderUse',
    endpoint: binding.endpoint,
    provider: binding.provider,
    model: binding.model,
    hasCredential: binding.credentialsSecretRef !== undefined,
    owner: binding.owner,
    delegator: executionDelegator ?? binding.authority.delegator,
    ...(binding.tenant !== undefined ? { bindingTenant: binding.tenant } : {}),
    ...(executionTenant !== undefined ? { tenant: executionTenant } : {}),
  };
}

export function toolGrantRequest(grant: ToolGrantRecordSpec, executionTenant?: string, call?: ToolCallFacts): ToolGrantRequest {
  return {
    gate: 'toolGrant',
    tool: grant.tool,
    ...(grant.actions ? { actions: [...grant.actions] } : {}),
    ...(grant.tenant !== undefined ? { grantTenant: grant.tenant } : {}),
    ...(executionTenant !== undefined ? { tenant: executionTenant } : {}),
    ...(grant.connector ? { protocol: grant.connector.protocol, endpoint: grant.connector.endpoint } : {}),
    ...(call ? { ...(call.action !== undefined ? { action: call.action } : {}), method: call.method, path: call.path } : {}),
  };
}
