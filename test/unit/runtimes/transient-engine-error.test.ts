import assert from 'node:assert/strict';
import test from 'node:test';
import { isTransientEngineError, retryTransient } from '../../../src/runtimes/transient-engine-error.ts';

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
