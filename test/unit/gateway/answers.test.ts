import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { GatewayAnswers } from '../../../src/gateway/answers.ts';

/** One request to a server whose handler is `handle`; the answer's status, headers and JSON body. */
async function answer(handle: (res: http.ServerResponse) => void): Promise<{ status: number; headers: Headers; body: any }> {
  const server = http.createServer((_req, res) => handle(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return { status: r.status, headers: r.headers, body: await r.json() };
  } finally {
    server.close();
  }
}

test('refusals are OpenAI-shaped; the tool endpoint adds allowed/reason; 401 asks for a bearer token', async () => {
  const registry = new Registry();
  const answers = new GatewayAnswers(registry);
  const plain = await answer((res) => answers.refuse(res, 'forward', { status: 403, type: 'permission_denied', code: 'policy_denied', message: 'no' }));
  assert.equal(plain.status, 403);
  assert.deepEqual(plain.body, { error: { message: 'no', type: 'permission_denied', code: 'policy_denied', param: null } });
  const tool = await answer((res) => answers.budgetRefusal(res, 'tools', { dimension: 'connectorCalls', used: 3, limit: 3 }, true));
  assert.equal(tool.status, 429);
  assert.equal(tool.body.allowed, false);
  assert.equal(tool.body.reason, 'budget_exceeded');
  assert.equal(tool.body.dimension, 'connectorCalls');
  assert.equal(tool.body.error.message, 'budget exhausted: connectorCalls 3 of 3 used');
  const unauthorized = await answer((res) => answers.refuse(res, 'models', { status: 401, type: 'invalid_request_error', code: 'invalid_token', message: 'who?' }));
  assert.equal(unauthorized.headers.get('www-authenticate'), 'Bearer realm="agent-machine-gateway"');
  const ok = await answer((res) => answers.json(res, 'models', 200, { object: 'list' }));
  assert.deepEqual(ok.body, { object: 'list' });

  const metrics = await registry.metrics();
  assert.match(metrics, /agent_machine_gateway_requests_total\{route="forward",code="403"\} 1/);
  assert.match(metrics, /agent_machine_gateway_requests_total\{route="tools",code="429"\} 1/);
  assert.match(metrics, /agent_machine_gateway_requests_total\{route="models",code="200"\} 1/);
  assert.match(metrics, /agent_machine_gateway_budget_exhausted_total\{dimension="connectorCalls",route="tools"\} 1/);
});
