import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { heapFlags, runsController } from '../../../src/controller/heap-policy.ts';

const GiB = 1024 ** 3;
const host = { nodeOptions: undefined, execArgv: [], constrainedMemory: 0, totalMemory: 24 * GiB };

test('without a memory limit the controller gets a 1 GiB budget: 512 MB old space, 8 MB semi-spaces', () => {
  assert.deepEqual(heapFlags(host), ['--max-old-space-size=512', '--max-semi-space-size=8']);
  // cgroup v1 reports "no limit" as a huge number
  assert.deepEqual(heapFlags({ ...host, constrainedMemory: 2 ** 63 }), ['--max-old-space-size=512', '--max-semi-space-size=8']);
  assert.deepEqual(heapFlags({ ...host, totalMemory: 0.5 * GiB }), ['--max-old-space-size=256', '--max-semi-space-size=4'], 'a small machine: its RAM is the budget');
});

test('a cgroup memory limit is the budget', () => {
  assert.deepEqual(heapFlags({ ...host, constrainedMemory: 512 * 1024 ** 2 }), ['--max-old-space-size=256', '--max-semi-space-size=4']);
  assert.deepEqual(heapFlags({ ...host, constrainedMemory: 4 * GiB }), ['--max-old-space-size=2048', '--max-semi-space-size=8']);
  assert.deepEqual(heapFlags({ ...host, constrainedMemory: 64 * 1024 ** 2 }), ['--max-old-space-size=64', '--max-semi-space-size=1']);
});

test('a heap sized by NODE_OPTIONS or node flags is left alone', () => {
  for (const nodeOptions of ['--max-old-space-size=384', '--enable-source-maps --max_old_space_size=2000', '--max-semi-space-size 4', '--max-heap-size=300']) {
    assert.deepEqual(heapFlags({ ...host, nodeOptions }), [], nodeOptions);
  }
  assert.deepEqual(heapFlags({ ...host, execArgv: ['--max-old-space-size=100'] }), []);
  assert.deepEqual(heapFlags({ ...host, nodeOptions: '--enable-source-maps --max-old-space-sizes' }), ['--max-old-space-size=512', '--max-semi-space-size=8'], 'other flags do not count');
});

test('only the commands that run the controller get it', () => {
  assert.equal(runsController(['node', 'agent-machine.js', 'controller', '--leader-elect']), true);
  assert.equal(runsController(['node', 'agent-machine.js', 'dev']), true);
  assert.equal(runsController(['node', 'agent-machine.js', 'validate', 'controller']), false);
  assert.equal(runsController(['node', 'agent-machine.js']), false);
});

test('bin/agent-machine re-executes itself with the flags, keeping its PID, unless NODE_OPTIONS sized the heap', () => {
  const bin = fileURLToPath(new URL('../../../bin/agent-machine.js', import.meta.url));
  // Reports, as the process exits, the node flags it ran with and its PID; --help exits before anything connects.
  const probe = 'data:text/javascript,process.on("exit", () => console.error("HEAP " + JSON.stringify({ pid: process.pid, execArgv: process.execArgv })))';
  const run = (command: string, nodeOptions: string): { pid: number; execArgv: string[]; childPid: number } => {
    const r = spawnSync(process.execPath, ['--import', probe, bin, command, '--help'], { env: { ...process.env, NODE_OPTIONS: nodeOptions }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return { ...JSON.parse(/HEAP (.*)/.exec(r.stderr)![1]!), childPid: r.pid };
  };
  const expected = heapFlags({ nodeOptions: undefined, execArgv: [], constrainedMemory: process.constrainedMemory(), totalMemory: totalmem() });
  const controller = run('controller', '');
  assert.deepEqual(controller.execArgv, [...expected, '--import', probe]);
  assert.equal(controller.pid, controller.childPid, 'the same process, not a child');
  assert.deepEqual(run('controller', '--max-old-space-size=300').execArgv, ['--import', probe], "the user's heap size wins");
  assert.deepEqual(run('validate', '').execArgv, ['--import', probe], 'other commands start as they are');
});
