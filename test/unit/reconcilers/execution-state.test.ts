import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attemptOutcome, mayTakeSlot, recordNameFor } from '../../../src/reconcilers/execution-state.ts';
import type { ContainerExecutionRecord } from '../../../src/api/types.generated.ts';

const rec = (phase?: string) => ({ status: phase ? { phase } : undefined }) as unknown as ContainerExecutionRecord;

test('record names are deterministic, distinct per attempt, and never longer than 63', () => {
  assert.equal(recordNameFor('hello', 'agent', 0), 'hello-agent');
  assert.equal(recordNameFor('hello', 'agent', 2), 'hello-agent-r2');
  const long = recordNameFor('x'.repeat(60), 'container', 1);
  assert.ok(long.length <= 63);
  assert.equal(long, recordNameFor('x'.repeat(60), 'container', 1));
  assert.notEqual(long, recordNameFor('x'.repeat(60), 'container', 2));
  assert.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
});

test('an attempt is running until every container record is terminal', () => {
  assert.equal(attemptOutcome(2, [rec('Succeeded')]), 'running');
  assert.equal(attemptOutcome(2, [rec('Succeeded'), rec('Running')]), 'running');
  assert.equal(attemptOutcome(2, [rec('Succeeded'), rec()]), 'running');
  assert.equal(attemptOutcome(2, [rec('Succeeded'), rec('Succeeded')]), 'succeeded');
  assert.equal(attemptOutcome(2, [rec('Succeeded'), rec('Failed')]), 'failed');
  assert.equal(attemptOutcome(2, [rec('Denied'), rec('Succeeded')]), 'failed');
  assert.equal(attemptOutcome(2, [rec('Cancelled'), rec('Succeeded')]), 'cancelled');
  assert.equal(attemptOutcome(2, [rec('Cancelled'), rec('Failed')]), 'failed');
});

test('slots go to waiting executions in creation order', () => {
  const waiting = [
    { key: 'ns/c', createdAt: '2026-01-01T00:00:03Z' },
    { key: 'ns/a', createdAt: '2026-01-01T00:00:01Z' },
    { key: 'ns/b', createdAt: '2026-01-01T00:00:02Z' },
  ];
  assert.equal(mayTakeSlot('ns/a', 2, 1, waiting), true);
  assert.equal(mayTakeSlot('ns/b', 2, 1, waiting), false, 'one free slot: only the oldest');
  assert.equal(mayTakeSlot('ns/b', 2, 0, waiting), true);
  assert.equal(mayTakeSlot('ns/c', 2, 0, waiting), false);
  assert.equal(mayTakeSlot('ns/a', 2, 2, waiting), false, 'no free slot');
  assert.equal(mayTakeSlot('ns/x', 5, 0, waiting), false, 'not waiting: not a candidate');
});
