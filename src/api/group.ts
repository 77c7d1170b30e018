// The API group, version and kinds agent-machine serves. Everything else derives names from here.
export const GROUP = 'agentmachine.sourceos.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CATEGORY = 'agent-machine';

export const KINDS = [
  'AgentMachineProfile',
  'ToolGrantRecord',
  'LocalAgentExecution',
  'ContainerExecutionRecord',
  'ModelProviderBinding',
  'AgentMachineDiagnosticBundle',
] as const;
export type KindName = (typeof KINDS)[number];

export function isKindName(value: unknown): value is KindName {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value);
}
