// What the engine's answers mean: states and times, unreachable versus "no", name conflicts,
// podman's transient cgroup race and its retry, where the engine is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultSocketPath,
  engineTime,
  isConnectionError,
  isNameConflict,
  isTransientEngineError,
  mapState,
  retryTransient,
} from '../../../../src/runtimes/docker/engine.ts';

test('engine states and times map to the observation', () => {
  assert.equal(mapState('running'), 'running');
  assert.equal(mapState('paused'), 'running');
  assert.equal(mapState('created'), 'created');
  assert.equal(mapState('configured'), 'created');
  assert.equal(mapState('exited'), 'exited');
  assert.equal(mapState('stopped'), 'exited');
  assert.equal(mapState('dead'), 'exited');
  assert.equal(engineTime('0001-01-01T00:00:00Z'), undefined);
  assert.equal(engineTime(''), undefined);
  assert.equal(engineTime(undefined), undefined);
  assert.equal(engineTime('2026-11-21T19:40:19.611757795Z'), '2026-11-21T19:40:19.611Z');
  assert.equal(engineTime('2026-11-21T19:40:19.611757795+01:00'), '2026-11-21T18:40:19.611Z');
});

test('error classification: unreachable engine versus engine answers', () => {
  const errno = (code: string) => Object.assign(new Error(`connect ${code} /run/podman/podman.sock`), { code });
  assert.equal(isConnectionError(errno('ECONNREFUSED')), true);
  assert.equal(isConnectionError(errno('ENOENT')), true);
  assert.equal(isConnectionError(errno('EACCES')), true);
  assert.equal(isConnectionError(new Error('wrapped', { cause: errno('ECONNRESET') })), true);
  assert.equal(isConnectionError(Object.assign(new Error('(HTTP code 404) no such container'), { statusCode: 404 })), false);
  assert.equal(isConnectionError(new Error('boom')), false);
  assert.equal(isNameConflict(Object.assign(new Error('Conflict'), { statusCode: 409 })), true);
  assert.equal(
    isNameConflict(Object.assign(new Error('(HTTP code 500) server error - the container name "am-x" is already in use by 0f9c'), { statusCode: 500 })),
    true,
  );
  assert.equal(isNameConflict(Object.assign(new Error('(HTTP code 500) server error - no space left'), { statusCode: 500 })), false);
});

test('default socket: DOCKER_HOST when it is unix://, else podman’s', () => {
  assert.equal(defaultSocketPath({ DOCKER_HOST: 'unix:///var/run/docker.sock' }), '/var/run/docker.sock');
  assert.equal(defaultSocketPath({ DOCKER_HOST: 'tcp://10.0.0.1:2375' }), '/run/podman/podman.sock');
  assert.equal(defaultSocketPath({}), '/run/podman/podman.sock');
});

function engineError(statusCode: number, message: string): Error {
  // dockerode's shape: the HTTP status and the engine's JSON body beside the message.
  return Object.assign(new Error(`(HTTP code ${statusCode}) server error - ${message} `), { statusCode, json: { message } });
}

test('podman\'s cgroup read race is transient; other 500s and other codes are not', () => {
  assert.equal(isTransientEngineError(engineError(500, 'read /proc/4242/cgroup: no such process')), true);
  assert.equal(isTransientEngineError(engineError(500, 'container state improper')), false);
  assert.equal(isTransientEngineError(engineError(404, 'read /proc/4242/cgroup: no such process')), false);
  assert.equal(isTransientEngineError(new Error('read /proc/4242/cgroup: no such process')), false);
  assert.equal(isTransientEngineError(undefined), false);
});

test('retryTransient repeats a transient answer and returns the settled one', async () => {
  let calls = 0;
  const value = await retryTransient(
    async () => {
      calls++;
      if (calls < 3) throw engineError(500, 'read /proc/7/cgroup: no such process');
      return 'exited';
    },
    { attempts: 5, firstDelayMs: 1 },
  );
  assert.equal(value, 'exited');
  assert.equal(calls, 3);
});

test('retryTransient gives up after its attempts and never repeats a real error', async () => {
  let calls = 0;
  await assert.rejects(
    retryTransient(
      async () => {
        calls++;
        throw engineError(500, 'read /proc/7/cgroup: no such process');
      },
      { attempts: 3, firstDelayMs: 1 },
    ),
    /no such process/,
  );
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    retryTransient(async () => {
      calls++;
      throw engineError(409, 'name in use');
    }),
    /name in use/,
  );
  assert.equal(calls, 1);
});
