// The OOM verdict from the container's own state; the engine event-log lookup for a 137 that
// state cannot explain is exercised against real podman in test/integration/runtime-docker.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { oomFromState } from '../../../../src/runtimes/docker/oom.ts';
import type { ExitFacts } from '../../../../src/runtimes/docker/oom.ts';

function exit(code: number, opts: { memory?: number; oomKilled?: boolean } = {}): ExitFacts {
  return { State: { ExitCode: code, OOMKilled: opts.oomKilled ?? false }, HostConfig: { Memory: opts.memory ?? 256 * 1024 * 1024 } };
}

test('the engine saying OOMKilled is believed, whoever stopped the container', () => {
  assert.equal(oomFromState(exit(137, { oomKilled: true }), false), true);
  assert.equal(oomFromState(exit(137, { oomKilled: true }), true), true);
});

test('not 137, or no memory limit: not an OOM kill', () => {
  assert.equal(oomFromState(exit(0), false), false);
  assert.equal(oomFromState(exit(1), false), false);
  assert.equal(oomFromState(exit(143), false), false);
  assert.equal(oomFromState(exit(137, { memory: 0 }), false), false);
});

test('a 137 this process caused by stop() is not an OOM kill; otherwise only the event log can tell', () => {
  assert.equal(oomFromState(exit(137), true), false);
  assert.equal(oomFromState(exit(137), false), undefined);
});
