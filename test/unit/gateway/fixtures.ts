// Objects for the gateway unit tests, as the informer caches hold them.
import { AuthorizationUnavailableError, type AuthorizationOutcome, type AuthorizationRequest } from '../../../src/reconcilers/authorization.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { AgentMachineProfile, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../../../src/api/types.generated.ts';
import type { Informer, InformerHandlers } from '../../../src/operator/informer.ts';
import { objectKey } from '../../../src/operator/resource.ts';
import { Indexer, type IndexFunc } from '../../../src/operator/indexer.ts';
import type { CallAuthority } from '../../../src/gateway/authenticate.ts';
import type { Command } from '../../../src/reconcilers/command-recorder.ts';
import type { V1Secret } from '@kubernetes/client-node';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { TokenStore } from '../../../src/gateway/tokens.ts';
import { UsageLedger } from '../../../src/gateway/ledger.ts';
import { silentLogger } from '../../../src/observability/logger.ts';

export const NOW = new Date('2026-06-01T00:00:00Z');
const LATER = '2030-01-01T00:00:00Z';

export function profile(spec: Partial<AgentMachineProfile['spec']> = {}, name = 'local'): AgentMachineProfile {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineProfile',
    metadata: { name, uid: `p-${name}`, generation: 1, resourceVersion: '1' },
    spec: {
      profileType: 'local_model_provider',
      authority: { delegator: 'alice', delegate: 'agent:x', scopes: ['agent_machine.profile.create'], expiresAt: LATER, purpose: 'p' },
      budgetCeilings: { modelCalls: 10, tokens: 1000, connectorCalls: 10, cpuGpuComputeSeconds: 60, localDiskBytes: 1, sandboxMemoryBytes: 1, wallClockSeconds: 60, agentConcurrency: 1 },
      ...spec,
    } as AgentMachineProfile['spec'],
    status: { observedGeneration: 1, phase: 'Ready', conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: '', lastTransitionTime: LATER }] } as AgentMachineProfile['status'],
  };
}

export function binding(spec: Partial<ModelProviderBinding['spec']> = {}, status: Partial<NonNullable<ModelProviderBinding['status']>> | null = {}, name = 'llm'): ModelProviderBinding {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ModelProviderBinding',
    metadata: { name, namespace: 'ns', uid: `b-${name}`, generation: 1, resourceVersion: '1' },
    spec: {
      profileRef: { name: 'local' },
      provider: 'openai-compatible',
      endpoint: 'http://127.0.0.1:9999',
      model: 'test-model',
      owner: 'alice',
      authority: { delegator: 'alice', delegate: 'agent:x', scopes: ['agent_machine.model_provider.bind'], expiresAt: LATER, purpose: 'p' },
      ...spec,
    },
    ...(status === null
      ? {}
      : { status: { observedGeneration: 1, phase: 'Ready', conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: LATER }], ...status } }),
  };
}

export function execution(spec: Partial<LocalAgentExecution['spec']> = {}, status: Partial<NonNullable<LocalAgentExecution['status']>> = {}, name = 'run'): LocalAgentExecution {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name, namespace: 'ns', uid: `e-${name}`, generation: 1, resourceVersion: '1' },
    spec: {
      profileRef: { name: 'local' },
      authority: { delegator: 'alice', delegate: 'agent:x', scopes: ['agent_machine.execution.start', 'tool:*'], expiresAt: LATER, purpose: 'p' },
      containers: [{ name: 'agent', image: 'localhost/agent-sandbox:dev' }],
      modelProviderRef: { name: 'llm' },
      ...spec,
    },
    status: {
      phase: 'Running',
      budget: { effective: { modelCalls: 3, tokens: 100, connectorCalls: 2, cpuGpuComputeSeconds: 60, localDiskBytes: 1, sandboxMemoryBytes: 1, wallClockSeconds: 60, agentConcurrency: 1 } },
      ...status,
    },
  };
}

export function grant(spec: Partial<ToolGrantRecord['spec']> = {}, state: NonNullable<ToolGrantRecord['status']>['state'] = 'Active', name = 'g1'): ToolGrantRecord {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ToolGrantRecord',
    metadata: { name, namespace: 'ns', uid: `g-${name}`, generation: 1, resourceVersion: '1' },
    spec: {
      profileRef: { name: 'local' },
      tool: 'mcp.github/create_issue',
      authority: { delegator: 'alice', delegate: 'agent:x', scopes: ['agent_machine.tool_grant.apply', 'tool:mcp.github/create_issue'], expiresAt: LATER, purpose: 'p' },
      ...spec,
    },
    status: { state },
  };
}

/** Enough of an Informer for the gateway: a cache with handlers, fed by the test. */
export class FakeInformer<T extends KubernetesObject> {
  readonly #cache = new Map<string, T>();
  readonly #handlers = new Set<InformerHandlers<T>>();

  static of<T extends KubernetesObject>(...objs: T[]): Informer<T> & FakeInformer<T> {
    const f = new FakeInformer<T>();
    for (const o of objs) f.set(o);
    return f as unknown as Informer<T> & FakeInformer<T>;
  }

  on(h: InformerHandlers<T>): () => void {
    this.#handlers.add(h);
    return () => void this.#handlers.delete(h);
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  /** The informer's own indexer, so lookups cost what they cost in the controller. */
  readonly #indexer = new Indexer<T>();

  addIndex(name: string, fn: IndexFunc<T>): void {
    this.#indexer.define(name, fn, this.#cache);
  }

  byIndex(name: string, value: string): T[] {
    const out: T[] = [];
    for (const key of this.#indexer.keys(name, value)) out.push(this.#cache.get(key)!);
    return out;
  }

  set(obj: T): void {
    const key = objectKey(obj);
    const old = this.#cache.get(key);
    this.#cache.set(key, obj);
    this.#indexer.put(key, obj);
    for (const h of this.#handlers) old ? h.update?.(obj, old) : h.add?.(obj);
  }

  remove(obj: T): void {
    this.#cache.delete(objectKey(obj));
    this.#indexer.remove(objectKey(obj));
    for (const h of this.#handlers) h.delete?.(obj);
  }
}

/**
 * The gateway's per-call RBAC answer and audit, held by the test: `answer` is what RBAC (and the
 * namespace's tenant) say now; every request asked and every audited command is kept.
 */
export class TestCallAuthority implements CallAuthority {
  answer: 'allow' | 'deny' | 'tenant' | 'down' = 'allow';
  readonly asked: AuthorizationRequest[] = [];
  readonly audited: { name: string | undefined; command: Command }[] = [];
  readonly authorizer = {
    authorize: async (request: AuthorizationRequest): Promise<AuthorizationOutcome> => {
      this.asked.push(request);
      if (this.answer === 'down') throw new AuthorizationUnavailableError('no answer within 10000ms');
      if (this.answer === 'tenant') return { allowed: false, reason: 'TenantMismatch', message: 'spec.tenant acme is not the tenant of namespace ns', decisions: [] };
      const p = request.permissions.at(-1)!;
      if (this.answer === 'deny') return { allowed: false, reason: 'PermissionDenied', message: `user "${request.authority!.delegator}" may not ${p.verb} ${p.resource} "${p.name}"`, decisions: [] };
      return { allowed: true, reason: 'Authorized', message: 'ok', decisions: [] };
    },
  };
  readonly recorder = {
    record: async (obj: KubernetesObject, command: Command): Promise<void> => void this.audited.push({ name: obj.metadata?.name, command }),
  };
}

/**
 * The caches, token store, ledger and call authority a GatewayServer under test reads: what
 * every gateway test file sets up the same way before its own server.
 */
export function gatewayCaches(clients: KubeClients) {
  const secrets = FakeInformer.of<V1Secret>();
  return {
    executions: FakeInformer.of<LocalAgentExecution>(),
    bindings: FakeInformer.of<ModelProviderBinding>(),
    profiles: FakeInformer.of<AgentMachineProfile>(profile()),
    grants: FakeInformer.of<ToolGrantRecord>(),
    secrets,
    tokens: new TokenStore(clients, secrets),
    ledger: new UsageLedger({ clients, logger: silentLogger(), flushIntervalMs: 60_000 }),
    authority: new TestCallAuthority(),
  };
}
