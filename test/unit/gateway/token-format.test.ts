import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TOKEN_BODY_LENGTH, TOKEN_PATTERN, TOKEN_PREFIX, formatToken, hasTokenShape, isToken } from '../../../src/gateway/token-format.ts';

test('a token is amx_ + 43 base64url characters of 32 random bytes', () => {
  const t = formatToken(randomBytes(32));
  assert.ok(t.startsWith(TOKEN_PREFIX));
  assert.equal(t.length, TOKEN_PREFIX.length + TOKEN_BODY_LENGTH);
  assert.match(t, TOKEN_PATTERN);
  assert.equal(isToken(t), true);
  assert.equal(hasTokenShape(t), true);
  assert.throws(() => formatToken(randomBytes(31)), /32 random bytes/);
});

test('what is not a token is recognised as such', () => {
  const t = formatToken(Buffer.alloc(32, 7));
  for (const v of [`${t}x`, t.slice(0, -1), `sk-${t.slice(4)}`, '', 'amx_']) {
    assert.equal(isToken(v), false, v);
    assert.equal(hasTokenShape(v), false, v);
  }
  // The shape check is only the cheap first look; the pattern also checks the alphabet.
  const odd = `${TOKEN_PREFIX}${'!'.repeat(TOKEN_BODY_LENGTH)}`;
  assert.equal(hasTokenShape(odd), true);
  assert.equal(isToken(odd), false);
});
