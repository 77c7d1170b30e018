// Shared builders for governance tests: a valid profile of any type, adjustable per test.
import type { AgentMachineProfile, AgentMachineProfileSpec, Authority, ProfileType } from '../../../src/api/types.generated.ts';

export const CEILINGS = {
  modelCalls: 100,
  tokens: 100_000,
  connectorCalls: 50,
  cpuGpuComputeSeconds: 600,
  localDiskBytes: 1_073_741_824,
  sandboxMemoryBytes: 536_870_912,
  wallClockSeconds: 900,
  agentConcurrency: 2,
};

export function authority(overrides: Partial<Authority> = {}): Authority {
  return {
    delegator: 'alice',
    delegate: 'agent:summarizer',
    scopes: ['agent_machine.execution.start'],
    expiresAt: '2030-01-01T00:00:00Z',
    purpose: 'tests',
    ...overrides,
  };
}

export function profile(profileType: ProfileType, spec: Partial<AgentMachineProfileSpec> = {}): AgentMachineProfile {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineProfile',
    metadata: { name: `${profileType.replaceAll('_', '-')}-test` },
    spec: { profileType, authority: authority(), budgetCeilings: { ...CEILINGS }, ...spec },
  };
}
