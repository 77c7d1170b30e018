// The create request of a record's container (where the hardening lives): names, labels,
// limits, mounts, network, env. Behaviour against a real engine is in
// test/integration/runtime-docker.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY_HOSTNAME, SANDBOX_USER, containerCreateOptions, containerNameFor, outputVolumeName } from '../../../../src/runtimes/docker/create-options.ts';
import type { CreateContext } from '../../../../src/runtimes/docker/create-options.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_NAME_LABEL, RECORD_UID_LABEL } from '../../../../src/runtimes/container-runtime.ts';
import type { ContainerRunSpec } from '../../../../src/runtimes/container-runtime.ts';

const MiB = 1024 * 1024;
const UID = '3f2a9c1e-7b4d-4e2a-9f00-0123456789ab';

function spec(overrides: Partial<ContainerRunSpec> = {}): ContainerRunSpec {
  return {
    recordUid: UID,
    recordNamespace: 'team-a',
    recordName: 'triage-run',
    image: 'localhost/agent-sandbox:dev',
    command: ['sh', '-c', 'echo hi'],
    env: { API_TOKEN: 'secret-value', MODE: 'x=y' },
    limits: { memoryBytes: 256 * MiB, cpuMillis: 1500, pidsLimit: 128, scratchBytes: 32 * MiB },
    network: { mode: 'none' },
    outputs: [],
    ...overrides,
  };
}
const podman: CreateContext = { engine: 'podman', logMaxBytes: 8 * MiB };

test('container names are deterministic, sanitised and bounded', () => {
  assert.equal(containerNameFor(spec()), 'am-team-a-triage-run-3f2a9c1e');
  assert.equal(containerNameFor(spec()), containerNameFor(spec()));
  const long = containerNameFor({ recordNamespace: 'n'.repeat(63), recordName: `${'a'.repeat(250)}.x`, recordUid: UID });
  assert.ok(long.length <= 113, String(long.length));
  assert.match(long, /^am-n{40}-a{60}-3f2a9c1e$/);
  const odd = containerNameFor({ recordNamespace: '--ns', recordName: 'we:ird/na me..', recordUid: '$$$' });
  assert.match(odd, /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
  assert.equal(odd, 'am-ns-we-ird-na-me-x');
  assert.notEqual(containerNameFor(spec()), containerNameFor(spec({ recordUid: 'ffffffff-0000' })));
  assert.equal(outputVolumeName(UID, 2), `am-out-${UID}-2`);
});

test('the create request carries the hardening, limits, labels and user', () => {
  const o = containerCreateOptions(spec(), podman);
  const h = o.HostConfig!;
  assert.equal(o.name, 'am-team-a-triage-run-3f2a9c1e');
  assert.equal(o.User, SANDBOX_USER);
  assert.deepEqual(o.Labels, { [RECORD_UID_LABEL]: UID, [RECORD_NAME_LABEL]: 'team-a.triage-run', [MANAGED_BY_LABEL]: MANAGED_BY });
  assert.equal(h.Memory, 256 * MiB);
  assert.equal(h.MemorySwap, 256 * MiB, 'no swap');
  assert.equal(h.NanoCpus, 1_500_000_000);
  assert.equal(h.PidsLimit, 128);
  assert.equal(h.ReadonlyRootfs, true);
  assert.equal(h.Privileged, false);
  assert.deepEqual(h.CapDrop, ['ALL']);
  assert.equal(h.CapAdd, undefined);
  assert.deepEqual(h.SecurityOpt, ['no-new-privileges']);
  assert.equal(h.NetworkMode, 'none');
  assert.equal(h.PidMode, undefined);
  assert.equal(h.IpcMode, undefined);
  assert.deepEqual(h.RestartPolicy, { Name: 'no' });
  assert.match(h.Tmpfs!['/tmp']!, new RegExp(`size=${32 * MiB},mode=1777,U$`));
  assert.equal(h.ShmSize, 32 * MiB);
  assert.deepEqual(
    h.Ulimits!.map((u) => u.Name),
    ['nofile', 'nproc'],
  );
  assert.equal(h.Ulimits!.find((u) => u.Name === 'nproc')!.Soft, 32768);
  assert.deepEqual(h.LogConfig, { Type: '', Config: { 'max-size': String(8 * MiB) } });
  assert.deepEqual(o.Entrypoint, ['sh', '-c', 'echo hi']);
  assert.equal(o.Cmd, undefined);
  assert.equal(o.Tty, false);
  assert.deepEqual(o.Env, ['API_TOKEN=secret-value', 'MODE=x=y']);
});

test('Docker gets uid=/gid= for the scratch tmpfs where podman gets U', () => {
  const o = containerCreateOptions(spec(), { engine: 'docker', logMaxBytes: MiB });
  assert.match(o.HostConfig!.Tmpfs!['/tmp']!, /mode=1777,uid=65532,gid=65532$/);
});

test('workspace is a read-only bind; each output a writable named volume', () => {
  const o = containerCreateOptions(
    spec({
      workspace: { hostPath: '/srv/ws:odd', mountPath: '/workspace' },
      outputs: [
        { name: 'report', path: '/out/report' },
        { name: 'patch', path: '/out/patch' },
      ],
    }),
    podman,
  );
  assert.deepEqual(o.HostConfig!.Mounts, [
    { Type: 'bind', Source: '/srv/ws:odd', Target: '/workspace', ReadOnly: true },
    { Type: 'volume', Source: outputVolumeName(UID, 0), Target: '/out/report', ReadOnly: false },
    { Type: 'volume', Source: outputVolumeName(UID, 1), Target: '/out/patch', ReadOnly: false },
  ]);
  assert.equal(o.HostConfig!.Binds, undefined);
});

test('network modes: open, and none/gateway-only/allowlist without and with a gateway network', () => {
  assert.equal(containerCreateOptions(spec({ network: { mode: 'open' } }), podman).HostConfig!.NetworkMode, 'bridge');
  // none too: an airgapped agent reaches the gateway (local models) and, having no route off
  // the internal network, nothing else.
  for (const mode of ['none', 'gateway-only', 'allowlist'] as const) {
    const plain = containerCreateOptions(spec({ network: { mode, egressAllowlist: ['api.example.com'] } }), podman);
    assert.equal(plain.HostConfig!.NetworkMode, 'none');
    assert.equal(plain.HostConfig!.ExtraHosts, undefined);
    const gw = containerCreateOptions(spec({ network: { mode } }), { ...podman, gateway: { network: 'am-gateway', host: '10.89.0.1' } });
    assert.equal(gw.HostConfig!.NetworkMode, 'am-gateway');
    assert.deepEqual(gw.HostConfig!.ExtraHosts, [`${GATEWAY_HOSTNAME}:10.89.0.1`]);
  }
  // A gateway network never changes 'open'.
  const ctx = { ...podman, gateway: { network: 'am-gateway', host: '10.89.0.1' } };
  assert.equal(containerCreateOptions(spec({ network: { mode: 'open' } }), ctx).HostConfig!.NetworkMode, 'bridge');
});

test('a proxy becomes HTTP(S)_PROXY unless the env sets it', () => {
  const o = containerCreateOptions(spec({ env: { HTTPS_PROXY: 'http://own:1' }, network: { mode: 'allowlist', proxy: 'http://proxy:3128' } }), podman);
  assert.ok(o.Env!.includes('HTTPS_PROXY=http://own:1'));
  assert.ok(o.Env!.includes('HTTP_PROXY=http://proxy:3128'));
  assert.ok(o.Env!.includes('https_proxy=http://proxy:3128'));
  assert.ok(o.Env!.includes('NO_PROXY=localhost,127.0.0.1'));
});

test('command and args follow Kubernetes: command replaces the entrypoint, args the cmd', () => {
  const both = containerCreateOptions(spec({ command: ['/bin/agent'], args: ['--once'] }), podman);
  assert.deepEqual([both.Entrypoint, both.Cmd], [['/bin/agent'], ['--once']]);
  const argsOnly = containerCreateOptions(spec({ command: undefined, args: ['--once'] }), podman);
  assert.deepEqual([argsOnly.Entrypoint, argsOnly.Cmd], [undefined, ['--once']]);
  const wd = containerCreateOptions(spec({ workingDir: '/workspace' }), podman);
  assert.equal(wd.WorkingDir, '/workspace');
});

test('limits must be positive: no limit is never the fallback', () => {
  for (const key of ['memoryBytes', 'cpuMillis', 'pidsLimit', 'scratchBytes'] as const) {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const limits = { ...spec().limits, [key]: bad };
      assert.throws(() => containerCreateOptions(spec({ limits }), podman), new RegExp(`limits\\.${key}`));
    }
  }
});
