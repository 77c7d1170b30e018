import { test } from 'node:test';
import assert from 'node:assert/strict';
import { walkGates } from '../../../../src/reconcilers/core/gate-walk.ts';

interface Facts {
  a?: number;
  b?: number;
}
type D = { need: 'a' | 'b' } | { need?: undefined; sum: number };
const decide = (f: Facts): D => (f.a === undefined ? { need: 'a' } : f.a < 0 ? { sum: f.a } : f.b === undefined ? { need: 'b' } : { sum: f.a + f.b });

test('facts are fetched one at a time, in the order the decision asks, and only when asked', async () => {
  const fetched: string[] = [];
  const d = await walkGates<Facts, D>({}, decide, { a: (f) => void (fetched.push('a'), (f.a = 1)), b: async (f) => void (fetched.push('b'), (f.b = 2)) });
  assert.deepEqual(d, { sum: 3 });
  assert.deepEqual(fetched, ['a', 'b']);
  fetched.length = 0;
  assert.deepEqual(await walkGates<Facts, D>({}, decide, { a: (f) => void (fetched.push('a'), (f.a = -1)), b: () => void fetched.push('b') }), { sum: -1 });
  assert.deepEqual(fetched, ['a'], 'an earlier gate decided: b is never fetched');
  assert.deepEqual(await walkGates<Facts, D>({ a: 5, b: 5 }, decide, { a: () => assert.fail(), b: () => assert.fail() }), { sum: 10 });
});

test('a decision that keeps needing a fact its fetcher does not provide is an error, not a loop', async () => {
  await assert.rejects(walkGates<Facts, D>({}, decide, { a: () => undefined, b: () => undefined }), /decision still needs a/);
});
