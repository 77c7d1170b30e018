import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { periodicRunnable } from '../../../src/operator/periodic-runnable.ts';

test('rounds run one at a time, the next an interval after the last ended, none after shutdown', async () => {
  let active = 0;
  let most = 0;
  let rounds = 0;
  const r = periodicRunnable('t', 5, async () => {
    active++;
    most = Math.max(most, active);
    await sleep(10);
    rounds++;
    active--;
  });
  r.start();
  await sleep(80);
  assert.equal(await r.shutdown(1000), true);
  const after = rounds;
  assert.ok(after >= 2, `rounds: ${after}`);
  assert.equal(most, 1, 'a round never overlaps the one before');
  await sleep(40);
  assert.equal(rounds, after, 'nothing scheduled after shutdown');
});

test('shutdown waits for a round in flight only so long', async () => {
  const r = periodicRunnable('slow', 5, () => sleep(500));
  r.start();
  assert.equal(await r.shutdown(20), false);
});
