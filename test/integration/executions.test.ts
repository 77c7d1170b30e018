// LocalAgentExecutions driving real podman containers through the real controller (CLI child
// process) on the real API server: success, failure, OOM, deadline, cancel, concurrency, denial,
// a controller SIGKILL mid-run, and the podman service going away mid-run.
import { watchEngineEvents } from '../support/engine-events.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { docker, kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createAs, createNamespace, eventually, getObject, suffix, testProfile } from '../support/objects.ts';
import { startPodmanService } from '../../src/dev/podman-service.ts';
import { RECORD_NAME_LABEL, RECORD_UID_LABEL, MANAGED_BY_LABEL, MANAGED_BY } from '../../src/runtimes/container-runtime.ts';
import { runProjectScript } from '../../src/dev/project.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'am-exec-'));
const id = suffix();
const PROFILE = `exec-personal-${id}`;
let ns = '';
let controller: ControllerProcess;
const extra: ControllerProcess[] = [];

const MiB = 1024 * 1024;

function execution(name: string, command: string, opts: { budget?: object; cancel?: boolean; tools?: string[]; profile?: string; retries?: number } = {}) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name, namespace: ns },
    spec: {
      profileRef: { name: opts.profile ?? PROFILE },
      authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run', 'tool:*']),
      containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', command] }],
      budget: { wallClockSeconds: 60, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 60, ...opts.budget },
      ...(opts.tools ? { tools: opts.tools } : {}),
      ...(opts.retries !== undefined ? { retryPolicy: { maxRetries: opts.retries, backoffSeconds: 1 } } : {}),
    },
  };
}

const exStatus = async (name: string): Promise<any> => (await getObject('LocalAgentExecution', name, ns))?.status;
const waitPhase = (name: string, phase: string, timeoutMs = 30_000) =>
  eventually(`${name} ${phase}`, async () => {
    const s = await exStatus(name);
    if (s?.phase === phase) return s;
    if (s?.phase && ['Succeeded', 'Failed', 'Cancelled', 'Denied'].includes(s.phase) && s.phase !== phase) throw new Error(`${name} ended ${s.phase}: ${JSON.stringify(s.conditions)}`);
    return undefined;
  }, timeoutMs);
/** The Events about an object, as `kubectl get events` shows them: [type, reason]. */
async function eventsOf(name: string): Promise<Array<[string, string]>> {
  const { stdout } = await kubectl(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
  return JSON.parse(stdout).items.map((e: any) => [e.type, e.reason]);
}
const recordOf = async (name: string) => getObject<any>('ContainerExecutionRecord', `${name}-agent`, ns);
const managedContainers = (engine: Docker = docker()) => engine.listContainers({ all: true, filters: { label: [`${MANAGED_BY_LABEL}=${MANAGED_BY}`] } });

before(async () => {
  await installApi();
  ns = await createNamespace('executions');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  assert.equal((await createAs('alice', testProfile(PROFILE, { images: { allowedRegistries: ['localhost'] } }))).code, 0);
  controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl') });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`]);
});

after(async () => {
  await Promise.all([controller?.kill('SIGTERM'), ...extra.map((c) => c.kill('SIGKILL'))]);
});

test('exit 0: the execution completes, Ready, with the container record Succeeded and its log tail', async () => {
  assert.equal((await createAs('alice', execution('ok', 'echo hello from an agent'))).code, 0);
  const s = await waitPhase('ok', 'Succeeded');
  assert.equal(s.operation.state, 'completed');
  assert.equal(s.conditions.find((c: any) => c.type === 'Ready').status, 'True');
  const rec = await recordOf('ok');
  assert.equal(rec.status.exitCode, 0);
  assert.match(rec.status.logTail, /hello from an agent/);
  assert.match(rec.status.containerId, /^[0-9a-f]{12,}/);
  assert.ok(rec.status.startedAt && rec.status.finishedAt);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=5s', '-n', ns, 'localagentexecution/ok']);
});

test('exit 3: the execution fails and the exit code is recorded', async () => {
  assert.equal((await createAs('alice', execution('fails', 'echo about to fail; exit 3'))).code, 0);
  const s = await waitPhase('fails', 'Failed');
  assert.equal(s.operation.state, 'failed');
  assert.equal(s.containers[0].exitCode, 3);
  assert.equal((await recordOf('fails')).status.exitCode, 3);
});

test('memory over sandboxMemoryBytes: OOM killed and reported so', async () => {
  // tmpfs pages are charged to the container's memory cgroup: filling /tmp past the limit OOMs.
  assert.equal((await createAs('alice', execution('oom', 'dd if=/dev/zero of=/tmp/fill bs=1M count=120', { budget: { sandboxMemoryBytes: 16 * MiB, localDiskBytes: 200 * MiB } }))).code, 0);
  const s = await waitPhase('oom', 'Failed');
  const rec = await recordOf('oom');
  assert.equal(rec.status.oomKilled, true, JSON.stringify(rec.status));
  assert.equal(s.conditions.find((c: any) => c.type === 'Ready').reason, 'OOMKilled');
});

test('past wallClockSeconds: cancelled with reason DeadlineExceeded', async () => {
  assert.equal((await createAs('alice', execution('slow', 'sleep 60', { budget: { wallClockSeconds: 2 } }))).code, 0);
  const s = await waitPhase('slow', 'Cancelled', 20_000);
  assert.equal(s.conditions.find((c: any) => c.type === 'Ready').reason, 'DeadlineExceeded');
  // Stopped by its budget, not on request: a Warning, as kubectl describe and alerting read it.
  const events = await eventually('the DeadlineExceeded Event', async () => {
    const all = await eventsOf('slow');
    return all.some(([, reason]) => reason === 'DeadlineExceeded') ? all : undefined;
  });
  assert.deepEqual(events.filter(([, reason]) => reason === 'DeadlineExceeded'), [['Warning', 'DeadlineExceeded']]);
});

test('an image the engine does not have: the record waits ImageNotPresent with a Warning Event, nothing pulled', async () => {
  const ex = execution('no-image', 'true');
  ex.spec.containers[0]!.image = `localhost/agent-machine-no-such-image-${id}:1`;
  assert.equal((await createAs('alice', ex)).code, 0);
  const rec = await eventually('record ImageNotPresent', async () => {
    const r = await recordOf('no-image');
    return r?.status?.conditions?.find((c: any) => c.type === 'Ready')?.reason === 'ImageNotPresent' ? r : undefined;
  });
  assert.equal(rec.status.phase, 'Pending');
  const events = await eventually('the ImageNotPresent Event', async () => {
    const all = await eventsOf('no-image-agent');
    return all.some(([, reason]) => reason === 'ImageNotPresent') ? all : undefined;
  });
  assert.ok(events.every(([type, reason]) => reason !== 'ImageNotPresent' || type === 'Warning'), JSON.stringify(events));
  // The execution shows what blocks it, and its wall clock has not started.
  const blocked = await eventually('execution shows ImageNotPresent', async () => {
    const s = await exStatus('no-image');
    return s?.conditions?.find((c: any) => c.type === 'Ready')?.reason === 'ImageNotPresent' ? s : undefined;
  });
  assert.equal(blocked.phase, 'Running');
  assert.match(blocked.conditions.find((c: any) => c.type === 'Ready').message, /^waiting: container record no-image-agent: .*agent-machine-no-such-image/);
  assert.equal(blocked.deadline, undefined, 'wallClockSeconds starts when a container does');
  // Cancelled while blocked: the final status still says what blocked it.
  await kubectl(['patch', 'localagentexecution', 'no-image', '-n', ns, '--type=merge', '-p', '{"spec":{"cancel":true}}'], { user: 'alice' });
  const cancelled = await waitPhase('no-image', 'Cancelled');
  assert.match(cancelled.conditions.find((c: any) => c.type === 'Ready').message, /\(it was waiting: ImageNotPresent: /);
});

test('cancel mid-run: an execution.cancel command, the container gone within 5 s, state cancelled', async () => {
  assert.equal((await createAs('alice', execution('cancel-me', 'sleep 60'))).code, 0);
  await waitPhase('cancel-me', 'Running');
  const rec = await eventually('container running', async () => ((await recordOf('cancel-me'))?.status?.phase === 'Running' ? recordOf('cancel-me') : undefined));
  const started = Date.now();
  await kubectl(['patch', 'localagentexecution', 'cancel-me', '-n', ns, '--type=merge', '-p', '{"spec":{"cancel":true}}'], { user: 'alice' });
  await eventually('container gone', async () => (await managedContainers()).every((c) => c.Labels[RECORD_UID_LABEL] !== rec.metadata.uid), 5_000);
  const ms = Date.now() - started;
  const s = await waitPhase('cancel-me', 'Cancelled');
  assert.equal(s.operation.operationType, 'agent_machine.execution.cancel');
  assert.equal(s.operation.state, 'cancelled');
  assert.ok(ms <= 5_000, `container gone after ${ms} ms`);
  // Cancelled on request is not a failure: a Normal Event.
  const events = await eventually('the Cancelled Event', async () => {
    const all = await eventsOf('cancel-me');
    return all.some(([, reason]) => reason === 'Cancelled') ? all : undefined;
  });
  assert.deepEqual(events.filter(([, reason]) => reason === 'Cancelled'), [['Normal', 'Cancelled']]);
});

test('agentConcurrency 2 with 4 executions: never more than 2 containers at once, all 4 complete in order', async () => {
  const names = ['conc-1', 'conc-2', 'conc-3', 'conc-4'];
  for (const n of names) assert.equal((await createAs('alice', execution(n, 'sleep 1'))).code, 0);
  let maxRunning = 0;
  let sawQueued = false;
  await eventually('all 4 Succeeded', async () => {
    // Only this test's: other test files (and other checkouts) share the podman engine.
    const running = (await docker().listContainers({ filters: { label: [`${MANAGED_BY_LABEL}=${MANAGED_BY}`], status: ['running'] } })).filter((c) => names.some((n) => c.Labels[RECORD_NAME_LABEL] === `${ns}.${n}-agent`)).length;
    maxRunning = Math.max(maxRunning, running);
    const phases = await Promise.all(names.map(async (n) => (await exStatus(n))?.phase));
    sawQueued ||= phases.includes('Queued');
    return phases.every((p) => p === 'Succeeded');
  }, 60_000, 50);
  assert.ok(maxRunning <= 2, `saw ${maxRunning} containers running at once`);
  assert.ok(sawQueued, 'executions beyond the limit wait in Queued');
  const starts = await Promise.all(names.map(async (n) => new Date((await exStatus(n)).startedAt).getTime()));
  assert.ok(starts[2]! >= Math.min(starts[0]!, starts[1]!), 'the third started after the first two');
});

test('a denied execution never creates a container', async () => {
  // Names a tool no grant covers: the toolGrant gate denies.
  assert.equal((await createAs('alice', execution('denied', 'echo should never run', { tools: ['mcp.nothing-granted'] }))).code, 0);
  const s = await waitPhase('denied', 'Denied');
  assert.match(s.conditions.find((c: any) => c.type === 'Ready').message, /no Active ToolGrantRecord/);
  assert.equal(await recordOf('denied'), undefined);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await recordOf('denied'), undefined, 'still no container record');
});

test('controller SIGKILLed mid-run and restarted: the container is adopted, the execution completes, one container ever', async () => {
  // Live engine events, not a query of the past: podman's event log is shared and rotated.
  const engine = await watchEngineEvents();
  try {
    assert.equal((await createAs('alice', execution('adopt', 'sleep 3; echo done'))).code, 0);
    const rec = await eventually('container running', async () => ((await recordOf('adopt'))?.status?.phase === 'Running' ? recordOf('adopt') : undefined));
    await controller.kill('SIGKILL');
    controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl') });
    const s = await waitPhase('adopt', 'Succeeded');
    assert.equal(s.containers[0].exitCode, 0);
    const after = await recordOf('adopt');
    assert.equal(after.status.containerId, rec.status.containerId, 'the same container was adopted');
    assert.deepEqual(engine.events('create', rec.metadata.uid).length, 1, `create events: ${JSON.stringify(engine.all('create'))}`);
  } finally {
    engine.stop();
  }
});

test('podman service stopped mid-run: RuntimeReady=False, then recovery without intervention', async () => {
  const conf = runProjectScript('ensure-podman.sh');
  const socketDir = mkdtempSync(path.join(tmpdir(), 'am-podman-flaky-'));
  let podman = await startPodmanService({ containersConf: conf, socketDir });
  const own = await startControllerProcess({ auditLogPath: path.join(dir, 'flaky.jsonl'), args: ['--docker-host', `unix://${podman.socketPath}`, '-n', ns] });
  extra.push(own);
  // The shared controller watches this namespace too; keep it off these objects' runtime.
  await controller.kill('SIGTERM');
  try {
    assert.equal((await createAs('alice', execution('flaky', 'sleep 4; echo survived'))).code, 0);
    await eventually('flaky running', async () => (await recordOf('flaky'))?.status?.phase === 'Running');
    await podman.stop();
    const down = await eventually('RuntimeReady False', async () => {
      const r = await recordOf('flaky');
      return r?.status?.conditions?.find((c: any) => c.type === 'RuntimeReady' && c.status === 'False');
    }, 30_000);
    assert.match(down.reason, /RuntimeUnavailable/);
    podman = await startPodmanService({ containersConf: conf, socketDir });
    await eventually('RuntimeReady True again', async () => {
      const r = await recordOf('flaky');
      return r?.status?.conditions?.find((c: any) => c.type === 'RuntimeReady' && c.status === 'True');
    }, 60_000);
    const s = await eventually('flaky finished', async () => {
      const st = await exStatus('flaky');
      return ['Succeeded', 'Failed'].includes(st?.phase) ? st : undefined;
    }, 60_000);
    assert.equal(s.phase, 'Succeeded', JSON.stringify(s.conditions));
  } finally {
    await own.kill('SIGTERM');
    await podman.stop();
    controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl') });
  }
});

test('a container whose record is gone is removed when the controller starts (orphan sweep); another cluster\'s is left alone', async () => {
  const { DockerRuntime } = await import('../../src/runtimes/docker/docker-runtime.ts');
  const { randomUUID } = await import('node:crypto');
  const { dockerSocket } = await import('../support/integration-env.ts');
  const clusterUid = (await admin.core.readNamespace({ name: 'kube-system' })).metadata!.uid!;
  const run = (uid: string, owner: string) =>
    new DockerRuntime({ socketPath: dockerSocket(), owner }).ensure({
      recordUid: uid,
      recordNamespace: ns,
      recordName: 'vanished',
      image: sandboxImage(),
      command: ['sleep', '60'],
      env: {},
      limits: { memoryBytes: 32 * MiB, cpuMillis: 500, pidsLimit: 32, scratchBytes: MiB },
      network: { mode: 'none' },
      outputs: [],
    });
  // Containers labelled for records that do not exist: one of this cluster, one of another
  // cluster sharing the engine (a dev environment beside a test run).
  const uid = randomUUID();
  const foreign = randomUUID();
  await run(uid, clusterUid);
  await run(foreign, `another-cluster-${foreign}`);
  try {
    assert.ok((await managedContainers()).some((c) => c.Labels[RECORD_UID_LABEL] === uid));
    await controller.kill('SIGTERM');
    controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl') });
    await eventually('orphan removed', async () => !(await managedContainers()).some((c) => c.Labels[RECORD_UID_LABEL] === uid), 20_000);
    await controller.waitForLog((l) => l.msg === 'removed an orphaned container (its record is gone)' && l.recordUid === uid);
    assert.ok((await managedContainers()).some((c) => c.Labels[RECORD_UID_LABEL] === foreign), 'another cluster\'s container is not an orphan of this one');
  } finally {
    await new DockerRuntime({ socketPath: dockerSocket() }).remove(foreign);
  }
});

test('deleting a running execution frees its slot at once: a queued one starts', async () => {
  const profile = `exec-one-${id}`;
  assert.equal((await createAs('alice', testProfile(profile, { images: { allowedRegistries: ['localhost'] }, budgetCeilings: { modelCalls: 0, tokens: 0, connectorCalls: 0, cpuGpuComputeSeconds: 120, localDiskBytes: 64 * MiB, sandboxMemoryBytes: 128 * MiB, wallClockSeconds: 300, agentConcurrency: 1 } }))).code, 0);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${profile}`]);
  assert.equal((await createAs('alice', execution('holder', 'sleep 60', { profile }))).code, 0);
  await waitPhase('holder', 'Running');
  assert.equal((await createAs('alice', execution('next', 'echo next', { profile }))).code, 0);
  await eventually('next Queued', async () => (await exStatus('next'))?.phase === 'Queued');
  // Waiting, it owns nothing to clean up: no finalizer yet (one write less per admission).
  assert.deepEqual((await getObject<any>('LocalAgentExecution', 'next', ns))?.metadata.finalizers ?? [], []);
  assert.ok((await getObject<any>('LocalAgentExecution', 'holder', ns))?.metadata.finalizers?.length, 'the running one has its finalizer');
  // Deleting a queued one is immediate and still audited.
  assert.equal((await createAs('alice', execution('dropped', 'echo never', { profile }))).code, 0);
  await eventually('dropped Queued', async () => (await exStatus('dropped'))?.phase === 'Queued');
  const uid = (await getObject<any>('LocalAgentExecution', 'dropped', ns))?.metadata.uid;
  await kubectl(['delete', 'localagentexecution', 'dropped', '-n', ns, '--wait=true', '--timeout=10s'], { user: 'alice' });
  await eventually('the deletion of a queued execution audited', async () =>
    readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).some((r) => r.object?.uid === uid && r.outcome === 'cancelled' && /deleted before it started/.test(r.reason)),
  );
  await kubectl(['delete', 'localagentexecution', 'holder', '-n', ns, '--wait=false'], { user: 'alice' });
  // Well before the 5-minute resync: the deletion itself must wake the queue.
  await waitPhase('next', 'Succeeded', 20_000);
});
