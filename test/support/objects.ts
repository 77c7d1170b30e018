// Building and reading agent-machine objects in integration tests.
import { randomBytes } from 'node:crypto';
import { createKubeClients, isNotFound } from '../../src/operator/kube-clients.ts';
import { RESOURCES } from '../../src/api/resources.ts';
import type { KindName } from '../../src/api/group.ts';
import { adminKubeConfig, kubectl, sandboxImage } from './integration-env.ts';

export const admin = createKubeClients(adminKubeConfig());

export function suffix(): string {
  return randomBytes(3).toString('hex');
}

export async function createNamespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${suffix()}`;
  await kubectl(['create', 'namespace', ns]);
  return ns;
}

export function authority(delegator: string, scopes: string[], expiresAt = '2030-01-01T00:00:00Z') {
  return { delegator, delegate: 'agent:test', scopes, expiresAt, purpose: 'integration test' };
}

/** Creates objects as a user (the admission policy sees that user). Returns kubectl's result. */
export function createAs(user: string, ...objects: object[]) {
  return kubectl(['create', '-f', '-'], { user, stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }), check: false });
}

export async function getObject<T = any>(kind: KindName, name: string, namespace?: string): Promise<T | undefined> {
  try {
    return await admin.request<T>({ method: 'GET', path: RESOURCES[kind].apiPath(namespace, name) });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Polls fn until it returns a truthy value; fails with the last value seen. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const MiB = 1024 * 1024;

/** A profile alice delegates under, with roomy ceilings; override any spec field. */
export function testProfile(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineProfile',
    metadata: { name },
    spec: {
      profileType: 'personal',
      authority: authority('alice', ['agent_machine.profile.create']),
      budgetCeilings: { modelCalls: 10, tokens: 1000, connectorCalls: 10, cpuGpuComputeSeconds: 120, localDiskBytes: 256 * MiB, sandboxMemoryBytes: 256 * MiB, wallClockSeconds: 300, agentConcurrency: 2 },
      network: { mode: 'none' },
      ...spec,
    },
  };
}

/**
 * An execution alice delegates: one container `agent` running `sh -c script` in the sandbox
 * image. `spec` overrides any spec field (a budget replaces the default one); `container`
 * adds to the container (env, mounts...).
 */
export function testExecution(name: string, namespace: string, profile: string, script: string, spec: Record<string, unknown> = {}, container: Record<string, unknown> = {}) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name, namespace },
    spec: {
      profileRef: { name: profile },
      authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run']),
      containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', script], ...container }],
      budget: { wallClockSeconds: 120, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 120 },
      ...spec,
    },
  };
}
