import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import type { ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding } from '../../../src/api/types.generated.ts';
import { ExecutionGatewayEnv } from '../../../src/gateway/injection.ts';
import { TokenStore, mintToken, tokenSecretFor } from '../../../src/gateway/tokens.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { FakeInformer, binding, execution } from './fixtures.ts';

function record(ownerUid: string, executionName = 'run'): ContainerExecutionRecord {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ContainerExecutionRecord',
    metadata: { name: 'c', namespace: 'ns', uid: 'r-c', ownerReferences: [{ apiVersion: 'v1', kind: 'LocalAgentExecution', name: executionName, uid: ownerUid }] },
    spec: { executionRef: { name: executionName } },
  } as unknown as ContainerExecutionRecord;
}

test("the gateway env: the owning execution's token and URLs, nothing for others, nothing once closed", async () => {
  const executions = FakeInformer.of<LocalAgentExecution>();
  const bindings = FakeInformer.of<ModelProviderBinding>();
  const secrets = FakeInformer.of<V1Secret>();
  const tokens = new TokenStore({} as KubeClients, secrets);
  const ex = execution({}, { phase: 'Running' });
  executions.set(ex);
  bindings.set(binding());
  const token = mintToken();
  secrets.set(tokenSecretFor(ex, token));
  const env = new ExecutionGatewayEnv({ executions, bindings, tokens, addressing: { port: 8081 } });
  const open = { networkMode: 'open', runtime: 'docker' } as const;

  const got = await env.envFor(record(ex.metadata.uid!), open);
  assert.equal(got.OPENAI_API_KEY, token);
  assert.equal(got.OPENAI_BASE_URL, 'http://host.containers.internal:8081/v1');
  assert.equal(got.AGENT_MACHINE_GATEWAY_TOKEN, token);
  assert.equal(got.ANTHROPIC_API_KEY, undefined, 'an OpenAI binding');

  assert.deepEqual(await env.envFor(record('someone-else'), open), {}, 'a record naming an execution it is not owned by');
  executions.set(execution({}, { phase: 'Succeeded' }));
  assert.deepEqual(await env.envFor(record(ex.metadata.uid!), open), {}, 'a finished execution');
  executions.set(ex);
  env.close();
  assert.deepEqual(await env.envFor(record(ex.metadata.uid!), open), {}, 'the gateway shut down');
});
