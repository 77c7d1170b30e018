// The docker runtime's lifecycle without an engine. Behaviour against a real engine is in
// test/integration/runtime-docker.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DockerRuntime } from '../../../../src/runtimes/docker/docker-runtime.ts';
import { RuntimeUnavailableError } from '../../../../src/runtimes/container-runtime.ts';

test('no engine at the socket: RuntimeUnavailableError naming the socket', async () => {
  const rt = new DockerRuntime({ socketPath: '/nonexistent/agent-machine-test.sock' });
  assert.equal(rt.kind, 'docker');
  await assert.rejects(rt.ping(), (err: unknown) => err instanceof RuntimeUnavailableError && err.message.includes('unix:///nonexistent/agent-machine-test.sock'));
  await assert.rejects(rt.cpuSeconds('x'), RuntimeUnavailableError);
  await assert.rejects(rt.remove('x'), RuntimeUnavailableError);
});
