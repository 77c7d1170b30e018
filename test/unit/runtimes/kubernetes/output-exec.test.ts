// Reading an output by exec: when a Pod's output can be read, the exit code of the exec status,
// and the byte budget enforced on the stream (refused whole past it, never truncated).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { V1Pod } from '@kubernetes/client-node';
import { OutputTooLargeError } from '../../../../src/runtimes/container-runtime.ts';
import { collectable, execExitCode, readExec } from '../../../../src/runtimes/kubernetes/output-exec.ts';
import type { ExecSocket, OpenExec } from '../../../../src/runtimes/kubernetes/output-exec.ts';
import { COLLECTOR_NAME, CONTAINER_NAME } from '../../../../src/runtimes/kubernetes/pod.ts';

function pod(main: object | undefined, collector: object | undefined, over: Partial<V1Pod['metadata']> = {}): V1Pod {
  return {
    metadata: { namespace: 'ns', name: 'am-x-1', ...over },
    spec: {
      containers: [
        { name: CONTAINER_NAME, image: 'a' },
        { name: COLLECTOR_NAME, image: 'b', volumeMounts: [{ name: 'out-0', mountPath: '/out', readOnly: true }] },
      ],
    },
    status: {
      containerStatuses: [
        ...(main ? [{ name: CONTAINER_NAME, image: 'a', imageID: '', ready: false, restartCount: 0, state: main }] : []),
        ...(collector ? [{ name: COLLECTOR_NAME, image: 'b', imageID: '', ready: true, restartCount: 0, state: collector }] : []),
      ],
    },
  } as V1Pod;
}
const ended = { terminated: { exitCode: 3 } };
const running = { running: {} };

test('collectable: only once the agent container ended and while the collector runs', () => {
  assert.deepEqual(collectable(pod(ended, running), '/out/'), { ok: true });
  const early = collectable(pod(running, running), '/out');
  assert.equal(early.ok, false);
  assert.equal(!early.ok && early.gone, false, 'not yet: tried again later');
  const killed = collectable(pod(ended, { terminated: { exitCode: 137, reason: 'Error' } }), '/out');
  assert.ok(!killed.ok && killed.gone && /collector is not running \(Error\)/.test(killed.message));
  const undeclared = collectable(pod(ended, running), '/elsewhere');
  assert.ok(!undeclared.ok && undeclared.gone && /no collector for output path \/elsewhere/.test(undeclared.message));
  const deleting = collectable(pod(ended, running, { deletionTimestamp: new Date() }), '/out');
  assert.ok(!deleting.ok && deleting.gone);
});

test('execExitCode reads Success, and the ExitCode cause of NonZeroExitCode', () => {
  assert.equal(execExitCode({ status: 'Success' }), 0);
  assert.equal(execExitCode({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '2' }] } }), 2);
  assert.equal(execExitCode({ status: 'Failure', message: 'container not found' }), undefined);
  assert.equal(execExitCode(undefined), undefined);
});

/** An exec that writes `chunks` to stdout, then a status, then closes (unless closed before). */
function fakeExec(chunks: Buffer[], status: object | undefined, closed: { by?: string } = {}): OpenExec {
  return async (stdout, _stderr, onStatus) => {
    const ws = new EventEmitter() as EventEmitter & ExecSocket & { readyState: number };
    ws.readyState = 1;
    ws.close = () => {
      if (ws.readyState === 3) return;
      ws.readyState = 3;
      closed.by ??= 'reader';
      setImmediate(() => ws.emit('close'));
    };
    setImmediate(() => {
      for (const c of chunks) {
        if (ws.readyState === 3) return;
        stdout.write(c);
      }
      if (status) onStatus(status as never);
      closed.by ??= 'server';
      ws.readyState = 3;
      ws.emit('close');
    });
    return ws;
  };
}

test('readExec returns the whole stream at or under the budget', async () => {
  const r = await readExec(fakeExec([Buffer.alloc(600, 1), Buffer.alloc(400, 2)], { status: 'Success' }), '/out', 1000, 5000);
  assert.equal(r.stdout.length, 1000);
  assert.equal(r.exitCode, 0);
});

test('readExec refuses one byte past the budget and closes the stream', async () => {
  const closed: { by?: string } = {};
  await assert.rejects(readExec(fakeExec([Buffer.alloc(600), Buffer.alloc(401), Buffer.alloc(10_000)], { status: 'Success' }, closed), '/out', 1000, 5000), OutputTooLargeError);
  assert.equal(closed.by, 'reader');
});

test('readExec: a stream that ends without a status is an error, not an empty output', async () => {
  await assert.rejects(readExec(fakeExec([Buffer.alloc(10)], undefined), '/out', 1000, 5000), /without an exit status/);
});
