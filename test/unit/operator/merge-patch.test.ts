import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMergePatch, jsonEqual } from '../../../src/operator/merge-patch.ts';

/** RFC 7386 MergePatch, to check that applying the patch really yields the target. */
function apply(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = apply(out[k], v);
  }
  return out;
}

test('equal values give no patch', () => {
  assert.equal(createMergePatch({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }), undefined);
  assert.equal(createMergePatch({ a: 1, u: undefined }, { a: 1 }), undefined, 'undefined members count as absent');
});

test('changed, added and removed fields; arrays replaced whole', () => {
  const from = { state: 'Pending', conditions: [{ type: 'Ready', status: 'False' }], stale: 'x', nested: { keep: 1, drop: 2 } };
  const to = { state: 'Active', conditions: [{ type: 'Ready', status: 'True' }], nested: { keep: 1 }, added: { deep: true } };
  const patch = createMergePatch(from, to);
  assert.deepEqual(patch, {
    stale: null,
    state: 'Active',
    conditions: [{ type: 'Ready', status: 'True' }],
    nested: { drop: null },
    added: { deep: true },
  });
  assert.deepEqual(apply(from, patch), to);
});

test('jsonEqual is structural', () => {
  assert.ok(jsonEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }));
  assert.ok(!jsonEqual({ a: [1, 2] }, { a: [2, 1] }));
  assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: 2 }));
  assert.ok(!jsonEqual([], {}));
});
