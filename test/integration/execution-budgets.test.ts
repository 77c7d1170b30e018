// An execution's retries and budgets on real podman through the real controller: a failed
// attempt retried, retries exhausted, CPU seconds past cpuGpuComputeSeconds, memory split over
// two containers (read from inside each), and a network mode narrower than the profile's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { authority, createAs, createNamespace, eventually, getObject, suffix, testExecution, testProfile } from '../support/objects.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'am-budgets-'));
const auditLog = path.join(dir, 'audit.jsonl');
const id = suffix();
// Personal profiles run with the open network unless they say otherwise.
const OPEN = `budgets-open-${id}`;
const GATEWAY_ONLY = `budgets-gw-${id}`;
let ns = '';
let controller: ControllerProcess;

const MiB = 1024 * 1024;
const TERMINAL = ['Succeeded', 'Failed', 'Cancelled', 'Denied'];

const exStatus = async (name: string): Promise<any> => (await getObject('LocalAgentExecution', name, ns))?.status;
const ended = (name: string, timeoutMs = 60_000) =>
  eventually(`${name} finished`, async () => {
    const s = await exStatus(name);
    return TERMINAL.includes(s?.phase) ? s : undefined;
  }, timeoutMs);
const record = (name: string) => getObject<any>('ContainerExecutionRecord', name, ns);
const audited = (uid: string) =>
  readFileSync(auditLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.object?.uid === uid);

before(async () => {
  await installApi();
  ns = await createNamespace('budgets');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  const profile = (name: string, network: object) => testProfile(name, { images: { allowedRegistries: ['localhost'] }, network });
  assert.equal((await createAs('alice', profile(OPEN, { mode: 'open' }), profile(GATEWAY_ONLY, { mode: 'gateway-only' }))).code, 0);
  controller = await startControllerProcess({ auditLogPath: auditLog });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${OPEN}`, `agentmachineprofile/${GATEWAY_ONLY}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
});

/**
 * Each container waits for the test to tell it its exit code: a file named after its host name
 * (the engine's container id, first 12 characters) in the read-only workspace. The test answers
 * per record, so which attempt fails does not depend on timing.
 */
const ANSWERED = 'h=$(cat /etc/hostname); while [ ! -e "/workspace/$h" ]; do sleep 0.1; done; exit "$(cat "/workspace/$h")"';
function answerWhenRunning(recordName: string, answers: string, exitCode: number) {
  return eventually(`${recordName} running, answered ${exitCode}`, async () => {
    const id = (await record(recordName))?.status?.containerId as string | undefined;
    if (!id) return undefined;
    writeFileSync(path.join(answers, id.slice(0, 12)), `${exitCode}\n`, { mode: 0o644 });
    return true;
  }, 60_000);
}

test('a failed first attempt is retried and the retry succeeds: Retrying, a retry event, two records, audited', async () => {
  const name = 'retry-ok';
  const answers = mkdtempSync(path.join(tmpdir(), 'am-answers-'));
  chmodSync(answers, 0o755);
  const ex = testExecution(name, ns, OPEN, ANSWERED, { retryPolicy: { maxRetries: 2, backoffSeconds: 1 } }, { workspace: { hostPath: answers, mountPath: '/workspace' } });
  assert.equal((await createAs('alice', ex)).code, 0);
  await answerWhenRunning(`${name}-agent`, answers, 7);
  await answerWhenRunning(`${name}-agent-r1`, answers, 0);
  const s = await ended(name);
  assert.equal(s.phase, 'Succeeded', JSON.stringify(s.conditions));
  assert.equal(s.attempts, 2, 'ran twice: two attempts');
  const types = s.operation.events.map((e: any) => e.eventType);
  // Running → Retrying → Running → Succeeded, as the operation's events tell it (a running
  // attempt adds a start event per progress message: runs of one type count once).
  const runs = types.filter((t: string) => t !== 'progress').filter((t: string, i: number, all: string[]) => t !== all[i - 1]);
  assert.deepEqual(runs, ['start', 'retry', 'start', 'complete']);
  const retryEvent = s.operation.events.find((e: any) => e.eventType === 'retry');
  assert.match(retryEvent.details, new RegExp(`container record ${name}-agent Failed: the container exited 7; retry 1 of 2 in 1 s`));
  const first = await record(`${name}-agent`);
  const second = await record(`${name}-agent-r1`);
  assert.deepEqual([first?.status?.phase, first?.status?.exitCode], ['Failed', 7]);
  assert.deepEqual([second?.status?.phase, second?.status?.exitCode], ['Succeeded', 0]);
  const uid = (await getObject<any>('LocalAgentExecution', name, ns)).metadata.uid;
  // And as audited: one line per phase change, in order.
  const phases = await eventually('the success audited', async () => {
    const lines = audited(uid);
    return lines.some((l) => l.outcome === 'completed') ? lines.map((l) => `${l.outcome}: ${l.reason}`) : undefined;
  });
  assert.deepEqual(phases.filter((p) => !p.startsWith('queued')), [
    'started: started 1 container(s)',
    `started: container record ${name}-agent Failed: the container exited 7; retry 1 of 2 in 1 s`,
    'started: attempt 2 started',
    'completed: every container exited 0',
  ]);
});

test('retries exhausted: Failed after 1 + maxRetries attempts, with the last record\'s reason', async () => {
  const name = 'retry-exhausted';
  assert.equal((await createAs('alice', testExecution(name, ns, OPEN, 'exit 5', { retryPolicy: { maxRetries: 1, backoffSeconds: 1 } }))).code, 0);
  const s = await ended(name);
  assert.equal(s.phase, 'Failed');
  assert.equal(s.attempts, 2, '1 + maxRetries attempts');
  const ready = s.conditions.find((c: any) => c.type === 'Ready');
  assert.equal(ready.reason, 'ExitCode');
  assert.match(ready.message, new RegExp(`container record ${name}-agent-r1 Failed: the container exited 5`));
  assert.equal((await record(`${name}-agent`))?.status?.exitCode, 5);
  assert.equal((await record(`${name}-agent-r1`))?.status?.exitCode, 5);
  assert.equal(await record(`${name}-agent-r2`), undefined, 'no third attempt');
  assert.equal(s.operation.events.filter((e: any) => e.eventType === 'retry').length, 1);
});

test('CPU past cpuGpuComputeSeconds: stopped, ComputeBudgetExceeded, the CPU seconds in status.budget.used', async () => {
  const name = 'cpu-burn';
  const budget = { wallClockSeconds: 120, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 2 };
  assert.equal((await createAs('alice', testExecution(name, ns, OPEN, 'while :; do :; done', { budget }))).code, 0);
  const s = await ended(name, 90_000);
  assert.equal(s.phase, 'Failed', JSON.stringify(s.conditions));
  assert.equal(s.conditions.find((c: any) => c.type === 'Ready').reason, 'ComputeBudgetExceeded');
  assert.ok(s.budget.used.cpuGpuComputeSeconds > 2, JSON.stringify(s.budget));
  const rec = await record(`${name}-agent`);
  assert.equal(rec.status.conditions.find((c: any) => c.type === 'Ready').reason, 'ComputeBudgetExceeded');
  assert.ok(rec.status.cpuGpuComputeSecondsUsed > 2, JSON.stringify(rec.status));
});

test('two containers share the CPU seconds: neither alone past the budget, their sum is, and both stop', async (t) => {
  const name = 'cpu-two';
  // Each burns just over 2 CPU seconds by its own cgroup's count (v2 cpu.stat or v1 cpuacct;
  // however loaded the machine), then idles: 3 s rounded up, alone within a 5 s budget, 6 s
  // together, past it. No count to read is exit 9, which fails the test rather than burning on.
  const burn = [
    'ms() { if [ -r /sys/fs/cgroup/cpu.stat ]; then echo $(( $(grep usage_usec /sys/fs/cgroup/cpu.stat | cut -d" " -f2) / 1000 ));',
    'elif [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then echo $(( $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000000 )); else echo none; fi; }',
    'until m=$(ms); [ "$m" = none ] && exit 9; [ "$m" -ge 2000 ]; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; done',
    'echo "burnt $(ms) ms"; sleep 600',
  ].join('\n');
  const container = (c: string) => ({ name: c, image: sandboxImage(), command: ['sh', '-c', burn] });
  const budget = { wallClockSeconds: 120, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 5 };
  assert.equal((await createAs('alice', testExecution(name, ns, OPEN, '', { budget, containers: [container('a'), container('b')] }))).code, 0);
  const s = await ended(name, 110_000);
  assert.equal(s.phase, 'Failed', JSON.stringify(s.conditions));
  const ready = s.conditions.find((c: any) => c.type === 'Ready');
  assert.equal(ready.reason, 'ComputeBudgetExceeded');
  assert.match(ready.message, /CPU seconds \(summed over every container and attempt\) of a 5 s cpuGpuComputeSeconds budget/);
  const records = await Promise.all(['a', 'b'].map((c) => record(`${name}-${c}`)));
  const used = records.map((r) => r.status.cpuGpuComputeSecondsUsed as number);
  t.diagnostic(`CPU seconds per container ${used}, execution ${s.budget.used.cpuGpuComputeSeconds}; ${records.map((r) => r.status.logTail.slice(-200).trim()).join('; ')}`);
  for (const r of records) assert.equal(r.status.phase, 'Cancelled', `${r.metadata.name}: stopped by the execution, not by its own budget`);
  assert.ok(used.every((u) => u <= 3), `neither alone past 3 s: ${used}`);
  assert.ok(used[0]! + used[1]! > 5, `used ${used}`);
  assert.ok(s.budget.used.cpuGpuComputeSeconds > 5, JSON.stringify(s.budget));
});

test('two containers split sandboxMemoryBytes and localDiskBytes: each reads half from inside', async () => {
  const name = 'split';
  const probe = (c: string) => ({ name: c, image: sandboxImage(), command: ['sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; df -k /tmp | tail -n 1'] });
  const budget = { wallClockSeconds: 120, sandboxMemoryBytes: 96 * MiB, localDiskBytes: 32 * MiB, cpuGpuComputeSeconds: 60 };
  assert.equal((await createAs('alice', testExecution(name, ns, OPEN, '', { budget, containers: [probe('a'), probe('b')] }))).code, 0);
  const s = await ended(name);
  assert.equal(s.phase, 'Succeeded', JSON.stringify(s.conditions));
  for (const c of ['a', 'b']) {
    const rec = await record(`${name}-${c}`);
    assert.equal(rec.spec.budget.sandboxMemoryBytes, 48 * MiB);
    const [memory, df] = rec.status.logTail.trim().split('\n');
    assert.equal(Number(memory), 48 * MiB, `container ${c} memory limit: ${rec.status.logTail}`);
    assert.equal(Number(df.split(/\s+/)[1]), 16 * 1024, `container ${c} /tmp: ${df}`);
  }
});

test('asking for network none under an open profile: the container has no interface but lo', async () => {
  const name = 'net-none';
  const script = 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" ","';
  assert.equal((await createAs('alice', testExecution('net-default', ns, OPEN, script), testExecution(name, ns, OPEN, script, { network: { mode: 'none' } }))).code, 0);
  const [open, none] = await Promise.all([ended('net-default'), ended(name)]);
  assert.equal(open.phase, 'Succeeded');
  assert.equal(none.phase, 'Succeeded');
  assert.match((await record('net-default-agent')).status.logTail, /eth0,/, 'the profile\'s open network has an interface');
  const rec = await record(`${name}-agent`);
  assert.deepEqual(rec.spec.network, { mode: 'none' });
  assert.equal(rec.status.logTail.trim(), 'lo,');
  assert.ok(none.decisions === undefined || none.decisions.every((d: any) => d.allowed));
});

test('asking for a wider network than the profile\'s is Denied by builtin.network.requested-within-profile', async () => {
  const name = 'net-wider';
  assert.equal((await createAs('alice', testExecution(name, ns, GATEWAY_ONLY, 'true', { network: { mode: 'open' } }))).code, 0);
  const s = await ended(name);
  assert.equal(s.phase, 'Denied');
  const denial = s.decisions.find((d: any) => !d.allowed);
  assert.equal(denial.rule, 'builtin.network.requested-within-profile');
  assert.match(denial.message, /requested network mode open is more open than the profile's gateway-only/);
  assert.equal(await record(`${name}-agent`), undefined, 'nothing ran');
});

test('a container record asking for a wider network than its profile\'s is Denied too, and never runs', async () => {
  const name = 'record-net-wider';
  const rec = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ContainerExecutionRecord',
    metadata: { name, namespace: ns },
    spec: {
      profileRef: { name: GATEWAY_ONLY },
      authority: authority('alice', ['agent_machine.container.run']),
      network: { mode: 'open' },
      container: { image: sandboxImage(), command: ['sh', '-c', 'true'] },
      budget: { wallClockSeconds: 60, sandboxMemoryBytes: 32 * MiB, localDiskBytes: 8 * MiB, cpuGpuComputeSeconds: 30 },
    },
  };
  assert.equal((await createAs('alice', rec)).code, 0);
  const s = await eventually(`${name} decided`, async () => {
    const st = (await record(name))?.status;
    return TERMINAL.includes(st?.phase) ? st : undefined;
  });
  assert.equal(s.phase, 'Denied');
  assert.equal(s.decisions.find((d: any) => !d.allowed)?.rule, 'builtin.network.requested-within-profile');
  assert.equal(s.containerId, undefined, 'no container was made');
});

test('memory that split over the containers leaves one below 6 MiB denies the execution', async () => {
  const name = 'split-too-small';
  const c = (n: string) => ({ name: n, image: sandboxImage(), command: ['sh', '-c', 'true'] });
  const budget = { wallClockSeconds: 60, sandboxMemoryBytes: 10 * MiB, localDiskBytes: 8 * MiB, cpuGpuComputeSeconds: 30 };
  assert.equal((await createAs('alice', testExecution(name, ns, OPEN, '', { budget, containers: [c('a'), c('b')] }))).code, 0);
  const s = await ended(name);
  assert.equal(s.phase, 'Denied');
  const ready = s.conditions.find((x: any) => x.type === 'Ready');
  assert.equal(ready.reason, 'BudgetExceeded');
  assert.match(ready.message, /sandboxMemoryBytes 10485760 split over 2 containers is 5242880 bytes each/);
  assert.equal(await record(`${name}-a`), undefined);
});
