import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Reservation } from '../../../src/gateway/ledger.ts';
import { Settlement, scrub } from '../../../src/gateway/usage-relay.ts';

function reservation(log: string[]): Extract<Reservation, { ok: true }> {
  return { ok: true, tokensLeft: () => 0, holdTokens: () => undefined, release: () => log.push('release'), commit: (t: number) => log.push(`commit ${t}`) } as unknown as Extract<Reservation, { ok: true }>;
}

test('a settlement settles once: the first of commit and release wins', () => {
  const log: string[] = [];
  const counted: number[] = [];
  const a = new Settlement(reservation(log), (t) => counted.push(t));
  a.commit(12);
  a.release();
  a.commit(3);
  const b = new Settlement(reservation(log), (t) => counted.push(t));
  b.release();
  b.commit(7);
  const c = new Settlement(reservation(log), (t) => counted.push(t));
  c.commit(0);
  assert.deepEqual(log, ['commit 12', 'release', 'commit 0']);
  assert.deepEqual(counted, [12], 'only reported tokens are counted');
});

test('scrub removes secret values and their base64 forms, not short ones', () => {
  const key = 'sk-very-secret-value';
  const text = `bad key ${key}; basic ${Buffer.from(key).toString('base64')}; short abc`;
  const out = scrub(text, [key, 'abc', undefined]);
  assert.ok(!out.includes(key) && !out.includes(Buffer.from(key).toString('base64')));
  assert.ok(out.includes('short abc'));
  assert.equal(out.split('[REDACTED]').length, 3);
});
