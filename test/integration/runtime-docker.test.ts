// The docker runtime against a real podman engine: what a ContainerExecutionRecord's container
// is allowed to do (and not), how its end is observed, and that a restarted controller adopts
// rather than duplicates. Every container and volume made here is removed in `after`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DockerRuntime } from '../../src/runtimes/docker/docker-runtime.ts';
import { OWNER_LABEL, containerCreateOptions, containerNameFor } from '../../src/runtimes/docker/create-options.ts';
import { ImageNotPresentError, MANAGED_BY, MANAGED_BY_LABEL, RECORD_UID_LABEL, RuntimeUnavailableError } from '../../src/runtimes/container-runtime.ts';
import type { ContainerObservation, ContainerRunSpec } from '../../src/runtimes/container-runtime.ts';
import { createOwnedTempDir } from '../../src/dev/owned-temp-dir.ts';
import { startPodmanService } from '../../src/dev/podman-service.ts';
import { docker, dockerSocket, engineVersion, sandboxImage } from '../support/integration-env.ts';

const MiB = 1024 * 1024;
// A handle on the garbage collector, to measure what a read retains rather than its garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const runtime = new DockerRuntime({ socketPath: dockerSocket() });
const made = new Set<string>();
const networks: string[] = [];

after(async () => {
  const cleaner = new DockerRuntime({ socketPath: dockerSocket() });
  await Promise.allSettled([...made].map((uid) => cleaner.remove(uid)));
  for (const n of networks) await docker().getNetwork(n).remove().catch(() => {});
});

function spec(script: string, overrides: Partial<ContainerRunSpec> = {}): ContainerRunSpec {
  const recordUid = randomUUID();
  made.add(recordUid);
  return {
    recordUid,
    recordNamespace: 'rt-docker',
    recordName: `exec-${recordUid.slice(0, 5)}`,
    image: sandboxImage(),
    command: ['sh', '-c', script],
    env: {},
    limits: { memoryBytes: 64 * MiB, cpuMillis: 500, pidsLimit: 64, scratchBytes: 8 * MiB },
    network: { mode: 'none' },
    outputs: [],
    ...overrides,
  };
}

async function exited(uid: string, rt = runtime, timeoutMs = 15_000): Promise<ContainerObservation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const obs = await rt.inspect(uid);
    if (obs?.state === 'exited') return obs;
    if (Date.now() > deadline) throw new Error(`container of ${uid} did not exit in ${timeoutMs} ms: ${JSON.stringify(obs)}`);
    await sleep(25);
  }
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function containersOf(uid: string) {
  return docker().listContainers({ all: true, filters: { label: [`${RECORD_UID_LABEL}=${uid}`] } });
}

test('ping names the engine', async () => {
  assert.equal(await runtime.ping(), engineVersion());
});

test('exit 0: exited/0 with times and image digest; labels and name are the record’s', async (t) => {
  const s = spec('echo hello');
  const t0 = performance.now();
  const started = await runtime.ensure(s);
  const ensureMs = performance.now() - t0;
  const done = await exited(s.recordUid);
  const exitMs = performance.now() - t0;
  t.diagnostic(`ensure (image check + create + start + inspect): ${Math.round(ensureMs)} ms; exit observed by polling inspect after ${Math.round(exitMs)} ms`);
  assert.notEqual(started.state, 'created');
  assert.equal(done.exitCode, 0);
  assert.equal(done.oomKilled, false);
  assert.equal(done.id, started.id);
  assert.ok(done.startedAt && done.finishedAt && done.finishedAt >= done.startedAt, JSON.stringify(done));
  assert.match(done.imageDigest ?? '', /sha256:[0-9a-f]{64}$/);

  const info = await docker().getContainer(done.id).inspect();
  assert.equal(info.Name.replace(/^\//, ''), containerNameFor(s));
  assert.equal(info.Config.Labels[MANAGED_BY_LABEL], MANAGED_BY);
  assert.equal(info.Config.Labels[RECORD_UID_LABEL], s.recordUid);
  assert.equal(info.Config.User, '65532:65532');
  assert.equal(info.HostConfig.ReadonlyRootfs, true);
  assert.equal(info.HostConfig.Privileged, false);
  assert.equal(info.HostConfig.Memory, 64 * MiB);
  assert.equal(info.HostConfig.MemorySwap, 64 * MiB);
  assert.equal(info.HostConfig.NanoCpus, 500_000_000);
  assert.equal(info.HostConfig.NetworkMode, 'none');
});

test('exit 3: exited/3 and the log tail holds stdout and stderr', async () => {
  const s = spec('echo to-stdout; echo to-stderr >&2; exit 3', { env: { SECRET_LOOKING: 's3cr3t-value' } });
  await runtime.ensure(s);
  const done = await exited(s.recordUid);
  assert.equal(done.exitCode, 3);
  assert.equal(done.oomKilled, false);
  const tail = await runtime.logTail(s.recordUid, 4096);
  assert.match(tail, /to-stdout\n/);
  assert.match(tail, /to-stderr\n/);
  assert.equal(await runtime.logTail(s.recordUid, 10), 'to-stderr\n');
  assert.equal(await runtime.logTail(randomUUID(), 100), '');
});

test('memory limit exceeded: exit 137 reported as OOM, also by a restarted controller', async () => {
  const s = spec('', { command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], limits: { memoryBytes: 16 * MiB, cpuMillis: 500, pidsLimit: 64, scratchBytes: MiB } });
  await runtime.ensure(s);
  const done = await exited(s.recordUid);
  assert.equal(done.exitCode, 137);
  assert.equal(done.oomKilled, true);
  // No memory of anything: the verdict comes from the engine (no stop/kill in its event log).
  const fresh = await exited(s.recordUid, new DockerRuntime({ socketPath: dockerSocket() }));
  assert.equal(fresh.oomKilled, true);
});

test('stop(): the agent gets SIGTERM through the init process and ends at once (143)', async (t) => {
  const s = spec('sleep 60');
  await runtime.ensure(s);
  const t0 = performance.now();
  await runtime.stop(s.recordUid, 5);
  const done = await exited(s.recordUid);
  const ms = performance.now() - t0;
  t.diagnostic(`SIGTERM to a sleeping agent ended it in ${Math.round(ms)} ms (grace 5 s)`);
  assert.equal(done.exitCode, 143);
  assert.equal(done.oomKilled, false);
  assert.ok(ms < 4_000, 'ended by SIGTERM, not by the SIGKILL after the grace period');
});

test('stop(): an agent ignoring SIGTERM is killed after the grace period and its 137 is not an OOM, also after a restart', async (t) => {
  const s = spec('trap "" TERM; sleep 60');
  await runtime.ensure(s);
  const t0 = performance.now();
  await runtime.stop(s.recordUid, 1);
  const done = await exited(s.recordUid);
  t.diagnostic(`stop with 1 s grace of an agent that ignores SIGTERM took ${Math.round(performance.now() - t0)} ms`);
  assert.ok(performance.now() - t0 < 5_000);
  assert.equal(done.exitCode, 137);
  assert.equal(done.oomKilled, false);
  const fresh = new DockerRuntime({ socketPath: dockerSocket() });
  const t1 = performance.now();
  assert.equal((await fresh.inspect(s.recordUid))?.oomKilled, false);
  t.diagnostic(`a restarted controller's verdict from the engine event log: ${Math.round(performance.now() - t1)} ms`);
  await runtime.stop(s.recordUid, 1); // already exited: no-op
  // Cancelled before it ever started: a later ensure() must not start it.
  const cancelled = spec('true');
  await runtime.stop(cancelled.recordUid, 1); // no container: no-op
  await assert.rejects(runtime.ensure(cancelled), /stopped \(cancelled\)/);
  assert.equal((await containersOf(cancelled.recordUid)).length, 0);
  // Stopped and exited: ensure() adopts it as it is, it does not run again.
  assert.equal((await runtime.ensure(s)).state, 'exited');
  assert.equal(await runtime.cpuSeconds(s.recordUid), undefined);
});

test('ensure() is idempotent: sequential, concurrent, and across controller instances', async () => {
  const s = spec('sleep 30');
  const first = await runtime.ensure(s);
  const again = await runtime.ensure(s);
  assert.equal(again.id, first.id);
  assert.equal((await containersOf(s.recordUid)).length, 1);

  // Concurrent, within one instance and across three instances (separate processes would race
  // the same way): the name conflict makes the losers adopt the winner's container.
  const s2 = spec('sleep 30');
  const instances = [runtime, new DockerRuntime({ socketPath: dockerSocket() }), new DockerRuntime({ socketPath: dockerSocket() })];
  const results = await Promise.all([runtime.ensure(s2), ...instances.map((rt) => rt.ensure(s2))]);
  assert.equal(new Set(results.map((r) => r.id)).size, 1, JSON.stringify(results.map((r) => r.id)));
  const listed = await containersOf(s2.recordUid);
  assert.equal(listed.length, 1);
  assert.equal(listed[0]!.State, 'running');

  // A controller restart adopts the running container (same id, still running).
  const restarted = new DockerRuntime({ socketPath: dockerSocket() });
  const adopted = await restarted.ensure(s2);
  assert.equal(adopted.id, results[0]!.id);
  assert.equal(adopted.state, 'running');
  const cpu = await restarted.cpuSeconds(s2.recordUid);
  assert.ok(cpu === undefined || (cpu >= 0 && cpu < 5), String(cpu));

  await Promise.all([runtime.remove(s.recordUid), runtime.remove(s2.recordUid)]);
  assert.equal((await containersOf(s2.recordUid)).length, 0);
  assert.equal(await runtime.inspect(s2.recordUid), undefined);
  await runtime.remove(s2.recordUid); // gone: no-op
});

test('a created-but-never-started container is started on adoption', async () => {
  const s = spec('sleep 30');
  // What a controller that crashed between create and start leaves behind.
  await docker().createContainer(containerCreateOptions(s, { engine: 'podman', logMaxBytes: MiB }));
  assert.equal((await runtime.inspect(s.recordUid))?.state, 'created');
  const obs = await runtime.ensure(s);
  assert.equal(obs.state, 'running');
  assert.equal((await containersOf(s.recordUid)).length, 1);
});

test('sandbox: read-only root, scratch /tmp bounded, declared output writable and exportable, no caps, no network, pids capped', async () => {
  const script = [
    'id -u; id -g',
    '(echo x > /rootfile) 2>/dev/null && echo ROOT-WRITABLE || echo root-ro',
    '(echo x > /workspace/file) 2>/dev/null && echo WS-WRITABLE || echo ws-ro',
    'ls /workspace >/dev/null && echo ws-readable',
    'echo x > /tmp/f && echo tmp-ok',
    '(dd if=/dev/zero of=/tmp/big bs=1M count=3) 2>/dev/null && echo SCRATCH-UNBOUNDED || echo scratch-full',
    'echo result > /out/report/r.txt && echo out-ok',
    'grep CapEff /proc/self/status',
    'grep NoNewPrivs /proc/self/status',
    'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" ","; echo',
    '(for i in $(seq 1 40); do sleep 5 & done) 2>&1 | head -n 1',
    'echo end',
  ].join('; ');
  const s = spec(script, {
    workspace: { hostPath: '/work/shared', mountPath: '/workspace' },
    outputs: [{ name: 'report', path: '/out/report' }],
    limits: { memoryBytes: 64 * MiB, cpuMillis: 500, pidsLimit: 16, scratchBytes: 2 * MiB },
  });
  const t0 = performance.now();
  await runtime.ensure(s);
  const done = await exited(s.recordUid);
  const out = await runtime.logTail(s.recordUid, 8192);
  assert.ok(performance.now() - t0 < 10_000);
  assert.match(out, /^65532\n65532\n/);
  assert.match(out, /root-ro\n/);
  assert.match(out, /ws-ro\nws-readable\n/);
  assert.match(out, /tmp-ok\n/);
  assert.match(out, /scratch-full\n/);
  assert.match(out, /out-ok\n/);
  assert.match(out, /CapEff:\t0000000000000000\n/);
  assert.match(out, /NoNewPrivs:\t1\n/);
  assert.match(out, /\nlo,\n/, 'only lo in /proc/net/dev');
  assert.match(out, /can't fork: Resource temporarily unavailable\nend\n$/, out);
  assert.equal(done.exitCode, 0);

  // The output outlives the container's exit: an artifact export reads it from the engine.
  const tar = (await docker().getContainer(done.id).getArchive({ path: '/out/report' })) as NodeJS.ReadableStream;
  let archive = '';
  for await (const chunk of tar) archive += Buffer.from(chunk as Buffer).toString('latin1');
  assert.match(archive, /r\.txt/);
  assert.match(archive, /result\n/);
  assert.ok((await runtime.listRecordUids()).includes(s.recordUid));
  await runtime.remove(s.recordUid);
  const volumes = await docker().listVolumes({ filters: { label: [`${RECORD_UID_LABEL}=${s.recordUid}`] } });
  assert.equal(volumes.Volumes?.length ?? 0, 0, 'output volume removed with the container');
  assert.ok(!(await runtime.listRecordUids()).includes(s.recordUid));
});

test('owners: a runtime lists only its own cluster\'s (and namespace\'s) containers and volumes for orphan removal', async () => {
  const owner = `cluster-a-${randomUUID()}`;
  const ours = new DockerRuntime({ socketPath: dockerSocket(), owner });
  const theirs = new DockerRuntime({ socketPath: dockerSocket(), owner: `cluster-b-${randomUUID()}` });
  const a = spec('true', { outputs: [{ name: 'report', path: '/out/report' }] });
  const b = spec('true');
  await ours.ensure(a);
  await theirs.ensure(b);
  await exited(a.recordUid, ours);
  await exited(b.recordUid, theirs);
  const listedByUs = await ours.listRecordUids();
  assert.ok(listedByUs.includes(a.recordUid));
  assert.ok(!listedByUs.includes(b.recordUid), 'another cluster\'s container is not ours to remove');
  assert.ok(!(await theirs.listRecordUids()).includes(a.recordUid));
  // A controller watching one namespace (-n) lists only that namespace's records' containers.
  assert.ok((await ours.listRecordUids('rt-docker')).includes(a.recordUid));
  assert.ok(!(await ours.listRecordUids('rt-docker-other')).includes(a.recordUid));
  assert.ok(!(await ours.listRecordUids('rt')).includes(a.recordUid), 'a namespace that is a prefix of another is not it');
  assert.equal((await containersOf(a.recordUid))[0]?.Labels?.[OWNER_LABEL], owner);
  const volumes = await docker().listVolumes({ filters: { label: [`${RECORD_UID_LABEL}=${a.recordUid}`] } });
  assert.equal(volumes.Volumes?.[0]?.Labels?.[OWNER_LABEL], owner, 'output volumes carry the owner too');
  await ours.remove(a.recordUid);
  await theirs.remove(b.recordUid);
});

test("watch(): die is reported promptly (compared with the engine's wait)", async (t) => {
  const s = spec('sleep 0.4');
  const calls: number[] = [];
  let dieNs: number | undefined;
  const raw = (await docker().getEvents({ filters: { type: ['container'], label: [`${RECORD_UID_LABEL}=${s.recordUid}`] } })) as NodeJS.ReadableStream & { destroy(): void };
  raw.on('data', (b: Buffer) => {
    for (const line of b.toString().split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as { Action?: string; timeNano?: number };
      if (e.Action === 'die') dieNs = e.timeNano;
    }
  });
  const unsubscribe = runtime.watch((uid) => {
    if (uid === s.recordUid) calls.push(Date.now());
  });
  try {
    await sleep(200); // the subscription is live
    const obs = await runtime.ensure(s);
    const waited = docker()
      .getContainer(obs.id)
      .wait()
      .then(() => Date.now());
    const waitAt = await waited;
    await sleep(400);
    assert.ok(calls.length >= 2, `onChange calls: ${calls.length}`); // start, die
    assert.ok(dieNs, 'die event seen on the raw stream');
    const dieAt = dieNs / 1e6;
    const reported = calls[calls.length - 1]!;
    t.diagnostic(`die event → onChange: ${Math.round(reported - dieAt)} ms; die event → wait() returned: ${Math.round(waitAt - dieAt)} ms`);
    assert.ok(reported - dieAt < 1_500, `onChange ${Math.round(reported - dieAt)} ms after die`);
    const n = calls.length;
    await runtime.remove(s.recordUid);
    await sleep(1_500);
    assert.ok(calls.length > n, 'removal reported');
  } finally {
    unsubscribe();
    raw.destroy();
  }
});

test('watch() survives an engine restart and replays the events it missed', async (t) => {
  // A private podman service on a socket of its own (same storage and event log as the
  // shared one), stopped and started again under the subscription.
  const dir = await createOwnedTempDir('am-rt-');
  const conf = process.env.CONTAINERS_CONF;
  let service = await startPodmanService({ socketDir: dir.path, ...(conf ? { containersConf: conf } : {}) });
  const seen = new Set<string>();
  const rt = new DockerRuntime({ socketPath: service.socketPath });
  const unsubscribe = rt.watch((uid) => seen.add(uid));
  try {
    const before = spec('true');
    await sleep(200);
    await rt.ensure(before);
    await until(() => seen.has(before.recordUid), 5_000);

    await service.stop();
    await assert.rejects(rt.ping(), RuntimeUnavailableError);
    // While this engine is down, a managed container runs and dies on the shared one.
    const missed = spec('true');
    await runtime.ensure(missed);
    await exited(missed.recordUid);
    await sleep(300);
    const t0 = performance.now();
    service = await startPodmanService({ socketDir: dir.path, ...(conf ? { containersConf: conf } : {}) });
    await until(() => seen.has(missed.recordUid), 15_000);
    t.diagnostic(`missed die replayed ${Math.round(performance.now() - t0)} ms after the engine came back`);
    assert.match(await rt.ping(), /^podman /);
  } finally {
    unsubscribe();
    await service.stop();
    dir.remove();
  }
});

test('logTail of 50 MB of output: bounded read, last bytes only, terminal escapes stripped', async (t) => {
  const big = new DockerRuntime({ socketPath: dockerSocket(), logMaxBytes: 64 * MiB });
  const s = spec(
    "printf '\\033[1;31mfirst\\033[0m\\n'; head -c 52428800 /dev/zero | tr '\\0' 'a'; printf '\\n\\033[32mEND\\tMARK\\033[0m\\r\\n\\033]0;title\\007done\\n'",
  );
  await big.ensure(s);
  const done = await exited(s.recordUid, big, 60_000);
  assert.equal(done.exitCode, 0);
  // What the read retains (garbage collected before and after) and its peak on the way.
  // (array buffers are freed by a background sweeper: give it a moment before reading)
  const settled = async () => {
    gc();
    await sleep(100);
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = await settled();
  let peak = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.heapUsed + m.external - before);
  }, 5);
  const t0 = performance.now();
  const tail = await big.logTail(s.recordUid, 4096);
  const ms = performance.now() - t0;
  clearInterval(sampler);
  const retained = (await settled()) - before;
  t.diagnostic(`logTail(4096) of a 50 MB log: ${Math.round(ms)} ms; memory retained ${(retained / MiB).toFixed(1)} MiB, peak (uncollected socket chunks) ${(peak / MiB).toFixed(1)} MiB`);
  assert.ok(retained < 2 * MiB, `retained ${retained}`);
  assert.ok(Buffer.byteLength(tail) <= 4096);
  assert.ok(tail.endsWith('a\nEND\tMARK\ndone\n'), JSON.stringify(tail.slice(-40)));
  assert.doesNotMatch(tail, /[\x00-\x08\x0b-\x1f\x7f]/);
  await big.remove(s.recordUid);
});

test('network modes: open has an interface, gateway-only is none, or only the gateway with a gateway network', async (t) => {
  const open = spec('tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" ","', { network: { mode: 'open' } });
  const gw = spec('tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" ","', { network: { mode: 'gateway-only' } });
  await Promise.all([runtime.ensure(open), runtime.ensure(gw)]);
  await Promise.all([exited(open.recordUid), exited(gw.recordUid)]);
  assert.match(await runtime.logTail(open.recordUid, 1000), /^eth0,lo,$/);
  assert.equal(await runtime.logTail(gw.recordUid, 1000), 'lo,');

  // Prototype: an internal network; the container reaches the host only on the bridge address.
  const name = `am-test-gw-${randomUUID().slice(0, 8)}`;
  await docker().createNetwork({ Name: name, Internal: true, Driver: 'bridge' });
  networks.push(name);
  const server = createServer((_req, res) => res.end('gateway-here\n'));
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const gwRuntime = new DockerRuntime({ socketPath: dockerSocket(), gatewayNetwork: name });
    const probe = (host: string) => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} ${port} 2>&1 | tail -n 1`;
    const s = spec(`${probe('$GW')}; ${probe('8.8.8.8')}; grep agent-machine-gateway /etc/hosts | cut -f1`, { network: { mode: 'gateway-only' } });
    const net = (await docker().getNetwork(name).inspect()) as { IPAM?: { Config?: Array<{ Gateway?: string }> } };
    const gatewayIp = net.IPAM?.Config?.[0]?.Gateway;
    assert.ok(gatewayIp, JSON.stringify(net));
    s.env = { GW: gatewayIp };
    await gwRuntime.ensure(s);
    await exited(s.recordUid, gwRuntime);
    const out = await gwRuntime.logTail(s.recordUid, 2000);
    t.diagnostic(`gateway network ${name}: gateway ${gatewayIp}; container saw: ${JSON.stringify(out)}`);
    assert.match(out, /^gateway-here\n/);
    assert.match(out, /Network (is )?unreachable/);
    assert.match(out, new RegExp(`${gatewayIp!.replace(/\./g, '\\.')}`));
  } finally {
    server.close();
  }
});

test("the sandbox image's wget fails cleanly in every network mode: refused, unknown name, -T timeout; with a network it fetches", async (t) => {
  const server = createServer((_req, res) => res.end('fetched-through-wget\n'));
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    // Each probe prints its exit code: 1 is wget's own failure, 139 would be the crash the
    // Debian busybox-static build had on -T (build-sandbox-busybox.sh).
    const probes = [
      'wget -T 2 -O /dev/null http://127.0.0.1:9/ 2>&1; echo "refused=$?"',
      'wget -T 2 -O /dev/null http://no-such-host.invalid/ 2>&1; echo "unknown=$?"',
      'wget -T 1 -O /dev/null http://10.255.255.1:9/ 2>&1; echo "unroutable=$?"',
      `wget -q -T 5 -O - http://host.containers.internal:${port}/ 2>&1; echo "host=$?"`,
    ].join('; ');
    const runs = (['none', 'open'] as const).map((mode) => ({ mode, s: spec(probes, { network: { mode } }) }));
    await Promise.all(runs.map((r) => runtime.ensure(r.s)));
    for (const { mode, s } of runs) {
      const obs = await exited(s.recordUid, runtime, 30_000);
      const out = await runtime.logTail(s.recordUid, 4000);
      t.diagnostic(`${mode}: ${JSON.stringify(out)}`);
      assert.equal(obs.exitCode, 0, out);
      assert.doesNotMatch(out, /Segmentation fault|=139/, `${mode}: ${out}`);
      assert.match(out, /Connection refused[\s\S]*refused=1/, `${mode}: a refused connection is wget's exit 1`);
      assert.match(out, /bad address 'no-such-host\.invalid'[\s\S]*unknown=1/, `${mode}: an unknown name is wget's exit 1`);
      assert.match(out, /unroutable=(1|143)\b/, `${mode}: -T bounds a call that gets no answer`);
      if (mode === 'open') assert.match(out, /fetched-through-wget\nhost=0/);
      else assert.match(out, /host=1/);
    }
  } finally {
    server.close();
  }
});

test('missing image: a clear error, nothing created, no pull', async () => {
  const s = spec('true', { image: 'localhost/agent-machine-no-such-image:never' });
  await assert.rejects(runtime.ensure(s), (err: unknown) => err instanceof ImageNotPresentError && /does not pull/.test(err.message));
  assert.equal((await containersOf(s.recordUid)).length, 0);
});

test('an unreachable engine is RuntimeUnavailableError on every call', async () => {
  const dead = new DockerRuntime({ socketPath: `/tmp/agent-machine-no-engine-${randomUUID().slice(0, 8)}.sock` });
  await assert.rejects(dead.ping(), (err: unknown) => err instanceof RuntimeUnavailableError && /agent-machine-no-engine/.test(err.message));
  await assert.rejects(dead.inspect('x'), RuntimeUnavailableError);
  await assert.rejects(dead.ensure(spec('true')), RuntimeUnavailableError);
  await assert.rejects(dead.listRecordUids(), RuntimeUnavailableError);
  await assert.rejects(dead.logTail('x', 10), RuntimeUnavailableError);
  await assert.rejects(dead.stop('x', 1), RuntimeUnavailableError);
  // watch() keeps retrying quietly and stops when unsubscribed.
  const stop = dead.watch(() => {});
  await sleep(300);
  stop();
});
