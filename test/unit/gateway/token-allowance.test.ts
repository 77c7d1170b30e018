import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAIL_TOKENS, tokenAllowance } from '../../../src/gateway/token-allowance.ts';

const CHAT = '/v1/chat/completions';

test('a call holds its prompt estimate plus its own completion cap while that fits', () => {
  assert.deepEqual(tokenAllowance(CHAT, { max_tokens: 100 }, 400, 10_000), { ok: true, hold: 200 });
  assert.deepEqual(tokenAllowance('/v1/completions', { max_tokens: 50 }, 40, 10_000), { ok: true, hold: 60 });
});

test('a completion cap larger than what is left is lowered to it, in the field the client used', () => {
  assert.deepEqual(tokenAllowance(CHAT, { max_tokens: 5_000 }, 400, 1_000), { ok: true, hold: 1_000, cap: { field: 'max_tokens', value: 900 } });
  assert.deepEqual(tokenAllowance(CHAT, { max_completion_tokens: 5_000 }, 400, 1_000), { ok: true, hold: 1_000, cap: { field: 'max_completion_tokens', value: 900 } });
  assert.deepEqual(tokenAllowance('/v1/messages', { max_tokens: 5_000 }, 40, 100), { ok: true, hold: 100, cap: { field: 'max_tokens', value: 90 } });
});

test('without a cap of its own a call is capped only in the tail of the budget', () => {
  assert.deepEqual(tokenAllowance(CHAT, {}, 400, 1_000_000), { ok: true, hold: 100 + TAIL_TOKENS }, 'plenty left: no max_tokens added (providers check it against the context length)');
  assert.deepEqual(tokenAllowance(CHAT, {}, 400, 2_000), { ok: true, hold: 2_000, cap: { field: 'max_tokens', value: 1_900 } });
  assert.deepEqual(tokenAllowance(CHAT, { max_tokens: 'lots' }, 400, 2_000), { ok: true, hold: 2_000, cap: { field: 'max_tokens', value: 1_900 } }, 'a nonsense cap counts as none');
});

test('no room for the prompt and one token: refused; embeddings hold their prompt only', () => {
  assert.deepEqual(tokenAllowance(CHAT, {}, 400, 100), { ok: false, left: 100, needed: 101 });
  assert.deepEqual(tokenAllowance(CHAT, { max_tokens: 10 }, 4, 0), { ok: false, left: 0, needed: 2 });
  assert.deepEqual(tokenAllowance('/v1/embeddings', { input: 'x' }, 400, 100), { ok: true, hold: 100 });
  assert.deepEqual(tokenAllowance('/v1/embeddings', { input: 'x' }, 404, 100), { ok: false, left: 100, needed: 101 });
});
