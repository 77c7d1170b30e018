import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Secret } from '@kubernetes/client-node';
import type { LocalAgentExecution } from '../../../src/api/types.generated.ts';
import type { ExecutionGatewayEnv } from '../../../src/gateway/injection.ts';
import type { UsageLedger } from '../../../src/gateway/ledger.ts';
import type { GatewayServer } from '../../../src/gateway/server.ts';
import type { TokenStore } from '../../../src/gateway/tokens.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import { gatewayTokenController, tokenInputs } from '../../../src/reconcilers/gateway-token-reconciler.ts';
import { FakeInformer, execution } from '../gateway/fixtures.ts';

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !what(); i++) await sleep(5);
  assert.ok(what());
}

test('GatewayToken: a token while the execution runs, revoked when it ends or goes away; the server is on only while the controller runs', async () => {
  const calls: string[] = [];
  const executions = FakeInformer.of<LocalAgentExecution>();
  const secrets = FakeInformer.of<V1Secret>();
  const tokens = {
    ensure: async (ex: LocalAgentExecution) => (calls.push(`ensure ${ex.metadata.name}`), 'token'),
    revoke: async (ns: string, name: string, uid?: string) => void calls.push(`revoke ${ns}/${name}${uid ? ` ${uid}` : ''}`),
  } as unknown as TokenStore;
  const server = { setActive: (on: boolean) => calls.push(`active ${on}`), close: async () => void calls.push('server closed') } as unknown as GatewayServer;
  const ledger = { flush: async () => void calls.push('ledger flushed'), stop: () => calls.push('ledger stopped') } as unknown as UsageLedger;
  const env = { close: () => calls.push('env closed') } as unknown as ExecutionGatewayEnv;
  const c = gatewayTokenController({ executions, secrets, tokens, server, ledger, env, logger: silentLogger() });

  c.start();
  assert.deepEqual(calls.splice(0), ['active true']);
  executions.set(execution({}, { phase: 'Pending' }));
  await sleep(20);
  assert.deepEqual(calls.splice(0), [], 'nothing while it waits for admission');
  executions.set(execution({}, { phase: 'Running' }));
  await until(() => calls.includes('ensure run'));
  executions.set(execution({}, { phase: 'Succeeded' }));
  await until(() => calls.includes('revoke ns/run e-run'));
  executions.remove(execution());
  await until(() => calls.includes('revoke ns/run'));
  calls.splice(0);

  await c.shutdown(1_000);
  assert.deepEqual(calls, ['active false', 'ledger flushed', 'ledger stopped', 'env closed', 'server closed']);
});

test('tokenInputs: usage and condition writes of a running execution do not change it; phase, spec, deletion and a new object do', () => {
  const ex = (over: Record<string, unknown> = {}, status: Record<string, unknown> = {}) =>
    ({ metadata: { name: 'e', namespace: 'n', uid: 'u1', generation: 1, ...over }, spec: {}, status: { phase: 'Running', ...status } }) as never;
  const base = tokenInputs(ex());
  assert.equal(tokenInputs(ex({}, { budget: { used: { modelCalls: 3 } }, conditions: [] })), base);
  assert.notEqual(tokenInputs(ex({}, { phase: 'Succeeded' })), base);
  assert.notEqual(tokenInputs(ex({ generation: 2 })), base);
  assert.notEqual(tokenInputs(ex({ deletionTimestamp: '2026-12-07T00:00:00Z' })), base);
  assert.notEqual(tokenInputs(ex({ uid: 'u2' })), base);
  // Only the stages tokenAction tells apart: an admission (Pending → Queued) or a retry changes nothing.
  assert.equal(tokenInputs(ex({}, { phase: 'Retrying' })), base);
  assert.equal(tokenInputs(ex({}, { phase: 'Pending' })), tokenInputs(ex({}, { phase: 'Queued' })));
  assert.equal(tokenInputs(ex({}, { phase: undefined })), tokenInputs(ex({}, { phase: 'Queued' })));
  assert.notEqual(tokenInputs(ex({}, { phase: 'Queued' })), base);
  assert.equal(tokenInputs(ex({}, { phase: 'Failed' })), tokenInputs(ex({}, { phase: 'Succeeded' })));
});
