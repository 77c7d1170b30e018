// Which Engine API socket `agent-machine logs` reads the docker runtime's containers through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { devPodmanSocket, dockerSocketFor } from '../../../../src/cli/commands/logs.ts';

test('--docker-host wins, then DOCKER_HOST, then the dev podman socket when it exists, then podman\'s system socket', () => {
  const env = { XDG_CACHE_HOME: '/home/u/.cache' };
  assert.equal(devPodmanSocket(env), '/home/u/.cache/agent-machine/dev/podman/podman.sock');
  assert.equal(dockerSocketFor('unix:///a.sock', { ...env, DOCKER_HOST: 'unix:///b.sock' }, () => true), '/a.sock');
  assert.equal(dockerSocketFor(undefined, { ...env, DOCKER_HOST: 'unix:///b.sock' }, () => true), '/b.sock');
  assert.equal(dockerSocketFor(undefined, env, (p) => p === devPodmanSocket(env)), devPodmanSocket(env));
  assert.equal(dockerSocketFor(undefined, env, () => false), '/run/podman/podman.sock');
});

test('a TCP docker host is refused with a clear message, not tried', () => {
  assert.throws(() => dockerSocketFor('tcp://10.0.0.1:2375', {}, () => false), /only unix:\/\/ sockets are supported/);
});
