import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { settlesWithin } from '../../../src/operator/deadline.ts';

test('settlesWithin: true when the promise resolves or rejects in time, false when time runs out', async () => {
  assert.equal(await settlesWithin(sleep(5), 1_000), true);
  assert.equal(await settlesWithin(Promise.reject(new Error('failed drain')), 1_000), true, 'settled, even if it failed');
  const started = performance.now();
  assert.equal(await settlesWithin(new Promise(() => {}), 30), false);
  assert.ok(performance.now() - started < 1_000);
});
