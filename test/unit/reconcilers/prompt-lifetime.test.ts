import { test } from 'node:test';
import assert from 'node:assert/strict';
import { executionUidOf, promptsDone } from '../../../src/reconcilers/prompt-lifetime.ts';

const ex = (phase?: string) => ({ kind: 'LocalAgentExecution', metadata: { uid: 'ex-1', name: 'e' }, spec: {}, status: phase ? { phase } : {} }) as any;
const rec = (phase?: string) => ({ kind: 'ContainerExecutionRecord', metadata: { uid: 'r-1', ownerReferences: [{ kind: 'LocalAgentExecution', uid: 'ex-1', name: 'e', apiVersion: 'v' }] }, spec: {}, status: phase ? { phase } : {} }) as any;

test('prompts stay while the execution or any of its records runs', () => {
  assert.equal(promptsDone(ex('Running'), [rec('Running')]), false);
  assert.equal(promptsDone(ex('Succeeded'), [rec('Succeeded')]), true);
  // Cancelled while its container is still being stopped: its log tail is still to be redacted.
  assert.equal(promptsDone(ex('Cancelled'), [rec('Running')]), false);
  assert.equal(promptsDone(ex('Cancelled'), [rec('Cancelled')]), true);
  assert.equal(promptsDone(undefined, []), true, 'deleted');
});

test('the execution a record belongs to', () => {
  assert.equal(executionUidOf(rec()), 'ex-1');
  assert.equal(executionUidOf(ex()), 'ex-1');
});
