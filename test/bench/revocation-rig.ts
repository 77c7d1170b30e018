// What the two revocation benchmarks share: one running execution admitted with a set of tools
// (each under its own Active grant, created by the caller), its gateway token, and a watch of
// ours that notes when each revoking write is seen — the baseline any cache-driven check is
// measured against.
import { Watch } from '@kubernetes/client-node';
import { RESOURCES } from '../../src/api/resources.ts';
import type { KubeClients } from '../../src/operator/kube-clients.ts';
import { adminKubeConfig, sandboxImage } from '../support/integration-env.ts';
import { admin, authority, eventually, getObject } from '../support/objects.ts';

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The profile both benchmarks run under: calls only refused on lost authority, no network, one slot. */
export async function createBenchProfile(alice: KubeClients, name: string, connectorCalls: number): Promise<void> {
  const MiB = 1024 * 1024;
  await alice.request({
    method: 'POST',
    path: RESOURCES.AgentMachineProfile.apiPath(),
    body: {
      apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
      kind: 'AgentMachineProfile',
      metadata: { name },
      spec: {
        profileType: 'local_model_provider',
        authority: authority('alice', ['agent_machine.profile.create']),
        budgetCeilings: { modelCalls: 10, tokens: 1000, connectorCalls, cpuGpuComputeSeconds: 600, localDiskBytes: 16 * MiB, sandboxMemoryBytes: 64 * MiB, wallClockSeconds: 600, agentConcurrency: 1 },
        network: { mode: 'none' },
      },
    },
  });
}

/** Waits for the grants to be Active, starts the execution (delegate agent:bench) and answers its gateway token. */
export async function runningExecution(alice: KubeClients, ns: string, profileName: string, tools: string[], grantNames: string[], connectorCalls: number): Promise<string> {
  await eventually('every grant Active', async () => {
    const states = await Promise.all(grantNames.map((name) => getObject<any>('ToolGrantRecord', name, ns)));
    return states.every((g) => g?.status?.state === 'Active');
  }, 60_000);
  await alice.request({
    method: 'POST',
    path: RESOURCES.LocalAgentExecution.apiPath(ns),
    body: {
      apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
      kind: 'LocalAgentExecution',
      metadata: { name: 'agent', namespace: ns },
      spec: {
        profileRef: { name: profileName },
        authority: { ...authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run', 'tool:*']), delegate: 'agent:bench' },
        containers: [{ name: 'agent', image: sandboxImage(), command: ['sleep', '590'] }],
        tools,
        budget: { wallClockSeconds: 600, connectorCalls },
      },
    },
  });
  await eventually('execution Running', async () => (await getObject<any>('LocalAgentExecution', 'agent', ns))?.status?.phase === 'Running', 60_000);
  return eventually('token', async () => {
    try {
      const s = await admin.core.readNamespacedSecret({ name: 'agent-gateway-token', namespace: ns });
      return Buffer.from(s.data!.token!, 'base64').toString();
    } catch {
      return undefined;
    }
  });
}

/** A watch on the namespace's grants noting, in `seen`, when each one's revoking write arrived. */
export function watchRevocations(ns: string, seen: Map<string, number>): Promise<AbortController> {
  return new Watch(adminKubeConfig()).watch(
    `/apis/agentmachine.sourceos.dev/v1alpha1/namespaces/${ns}/toolgrantrecords`,
    {},
    (type, grant) => {
      if (type === 'MODIFIED' && grant.spec?.revoked === true && !seen.has(grant.metadata.name)) seen.set(grant.metadata.name, performance.now());
    },
    () => {},
  );
}
