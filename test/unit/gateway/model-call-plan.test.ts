import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkServedPath, planModelCall, type ModelCallFacts } from '../../../src/gateway/model-call-plan.ts';
import { TAIL_TOKENS } from '../../../src/gateway/token-allowance.ts';
import { binding } from './fixtures.ts';

function facts(body: unknown, over: Partial<ModelCallFacts> = {}): ModelCallFacts {
  return { path: '/v1/chat/completions', body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), headers: {}, binding: binding(), tokensLeft: 100_000, tokenLimit: 100_000, ...over };
}

function plan(f: ModelCallFacts) {
  const r = planModelCall(f);
  assert.ok(r.ok, JSON.stringify(r));
  return { ...r.plan, sent: JSON.parse(r.plan.payload.toString('utf8')) };
}

test('a request with the binding model and nothing to change goes on byte for byte', () => {
  const f = facts('{"model":"test-model",  "messages":[]}');
  const p = plan(f);
  assert.equal(p.payload, f.body, 'the same buffer: not re-serialised');
  assert.equal(p.endpoint, 'http://127.0.0.1:9999');
  assert.equal(p.path, '/v1/chat/completions');
  assert.equal(p.addedUsage, false);
  assert.equal(p.hold, Math.ceil(f.body.length / 4) + TAIL_TOKENS);
});

test('model: filled in when omitted, refused when another', () => {
  assert.equal(plan(facts({ messages: [] })).sent.model, 'test-model');
  const r = planModelCall(facts({ model: 'gpt-5', messages: [] }));
  assert.ok(!r.ok);
  assert.equal(r.refusal.status, 400);
  assert.equal(r.refusal.code, 'model_not_allowed');
  assert.match(r.refusal.message, /binding llm serves model test-model only/);
});

test('a body that is not a JSON object is refused', () => {
  for (const body of ['not json', '[1,2]', 'null', '"text"']) {
    const r = planModelCall(facts(body));
    assert.ok(!r.ok, body);
    assert.equal(r.refusal.status, 400);
    assert.equal(r.refusal.code, 'invalid_json');
  }
});

test('tokens: a call whose prompt cannot fit is a 429 tokens; a cap beyond what is left is lowered', () => {
  const refused = planModelCall(facts({ messages: [{ role: 'user', content: 'x'.repeat(400) }] }, { tokensLeft: 5, tokenLimit: 5 }));
  assert.ok(!refused.ok);
  assert.equal(refused.refusal.status, 429);
  assert.equal(refused.refusal.dimension, 'tokens');
  assert.match(refused.refusal.message, /needs about \d+ and 5 of 5 are left/);

  const capped = plan(facts({ messages: [], max_tokens: 50_000 }, { tokensLeft: 1000 }));
  assert.ok(capped.sent.max_tokens < 1000 && capped.sent.max_tokens > 0);
  assert.equal(capped.hold, 1000);
  const chat = plan(facts({ messages: [], max_completion_tokens: 50_000 }, { tokensLeft: 1000 }));
  assert.equal(chat.sent.max_tokens, undefined);
  assert.ok(chat.sent.max_completion_tokens < 1000, 'the field the client used');
});

test('streams: include_usage added (and the usage chunk to drop) unless the client asked; not for Anthropic or embeddings', () => {
  const added = plan(facts({ messages: [], stream: true, stream_options: { other: 1 } }));
  assert.deepEqual(added.sent.stream_options, { other: 1, include_usage: true });
  assert.equal(added.addedUsage, true);
  const asked = plan(facts({ messages: [], stream: true, stream_options: { include_usage: true } }));
  assert.equal(asked.addedUsage, false);
  const claude = plan(facts({ messages: [], stream: true }, { path: '/v1/messages', binding: binding({ provider: 'anthropic' }) }));
  assert.equal(claude.sent.stream_options, undefined);
  assert.equal(claude.addedUsage, false);
  const notStreaming = plan(facts({ messages: [] }));
  assert.equal(notStreaming.sent.stream_options, undefined);
});

test("only the agent's harmless headers go on: never its token", () => {
  const headers = { authorization: 'Bearer amx_secret', 'x-api-key': 'amx_secret', accept: 'text/event-stream', 'x-request-id': 'r1', 'anthropic-version': '2023-06-01', cookie: 'c=1' };
  assert.deepEqual(plan(facts({ messages: [] }, { headers })).headers, { accept: 'text/event-stream', 'x-request-id': 'r1' });
  const claude = plan(facts({ messages: [] }, { headers, path: '/v1/messages', binding: binding({ provider: 'anthropic' }) }));
  assert.deepEqual(claude.headers, { accept: 'text/event-stream', 'anthropic-version': '2023-06-01', 'x-request-id': 'r1' });
});

test('which paths a binding serves', () => {
  assert.equal(checkServedPath(binding(), '/v1/embeddings'), undefined);
  const r = checkServedPath(binding(), '/v1/messages');
  assert.equal(r?.status, 404);
  assert.equal(r?.code, 'unsupported_endpoint');
  assert.equal(checkServedPath(binding({ provider: 'anthropic' }), '/v1/messages'), undefined);
  assert.equal(checkServedPath(binding({ provider: 'anthropic' }), '/v1/chat/completions')?.status, 404);
});
