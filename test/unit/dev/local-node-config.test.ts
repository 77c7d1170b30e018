import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node } from '@kubernetes/client-node';
import { nodeAddress, nodeCniConflist, nodeContainerdConfig, nodeKubeletConfig, nodeReadiness } from '../../../src/dev/local-node-config.ts';

const paths = {
  root: '/tmp/n/containerd',
  state: '/tmp/n/state',
  socket: '/tmp/n/containerd.sock',
  pauseImage: 'localhost/agent-pause:dev',
  cniBinDir: '/usr/lib/cni',
  cniConfDir: '/tmp/n/cni',
  runcRoot: '/tmp/n/runc',
};

test('containerd: private paths and socket, the local pause image, the settings these machines need', () => {
  const c = nodeContainerdConfig(paths);
  assert.match(c, /^version = 2$/m);
  assert.match(c, /^root = "\/tmp\/n\/containerd"$/m);
  assert.match(c, /^state = "\/tmp\/n\/state"$/m);
  assert.match(c, /\[grpc\]\n {2}address = "\/tmp\/n\/containerd.sock"/);
  assert.match(c, /\[ttrpc\]\n {2}address = "\/tmp\/n\/containerd.sock.ttrpc"/);
  assert.match(c, /sandbox_image = "localhost\/agent-pause:dev"/);
  assert.match(c, /restrict_oom_score_adj = true/);
  assert.match(c, /netns_mounts_under_state_dir = true/);
  assert.match(c, /bin_dir = "\/usr\/lib\/cni"\n {2}conf_dir = "\/tmp\/n\/cni"/);
  assert.match(c, /SystemdCgroup = false\n {2}Root = "\/tmp\/n\/runc"/);
});

test('containerd: a path with a quote stays one TOML string', () => {
  const c = nodeContainerdConfig({ ...paths, root: '/tmp/a "b"' });
  assert.match(c, /^root = "\/tmp\/a \\"b\\""$/m);
});

test('CNI: a bridge and subnet of its own per suffix, short enough for a Linux interface name', () => {
  const a = nodeCniConflist('0a1b2c3d', '/tmp/n/ipam') as { name: string; plugins: Array<{ bridge: string; ipMasq: boolean; ipam: { ranges: Array<Array<{ subnet: string }>>; dataDir: string } }> };
  const b = nodeCniConflist('ffee0011', '/tmp/m/ipam') as typeof a;
  const [pa, pb] = [a.plugins[0], b.plugins[0]];
  assert.ok(pa && pb);
  assert.ok(pa.bridge.length <= 15);
  assert.notEqual(pa.bridge, pb.bridge);
  assert.notEqual(a.name, b.name);
  const subnet = (p: typeof pa): string => p.ipam.ranges[0]?.[0]?.subnet ?? '';
  assert.match(subnet(pa), /^10\.(2[0-4]\d)\.\d{1,3}\.0\/24$/);
  assert.notEqual(subnet(pa), subnet(pb));
  assert.equal(pa.ipam.dataDir, '/tmp/n/ipam');
  assert.equal(pa.ipMasq, false);
});

test('node address: a private /32 on a link of its own, not loopback; different per suffix', () => {
  const a = nodeAddress('0a1b2c3d');
  const b = nodeAddress('ffee0011');
  assert.match(a.ip, /^10\.25\d\.\d{1,3}\.\d{1,3}$/);
  assert.notEqual(a.ip, b.ip);
  assert.notEqual(a.link, b.link);
  assert.ok(a.link.length <= 15);
  const cni = nodeCniConflist('0a1b2c3d', '/x') as { plugins: Array<{ bridge: string }> };
  assert.notEqual(a.link, cni.plugins[0]?.bridge, 'not the Pods\' bridge');
});

test('kubelet: on the node address only, on the given ports, no QoS cgroups or node-allocatable enforcement', () => {
  const k = nodeKubeletConfig({ address: '10.251.3.7', socket: '/tmp/n/containerd.sock', port: 41000, healthzPort: 41001, podLogsDir: '/tmp/n/pod-logs' }) as Record<string, unknown>;
  assert.equal(k.containerRuntimeEndpoint, 'unix:///tmp/n/containerd.sock');
  assert.equal(k.address, '10.251.3.7');
  assert.equal(k.healthzBindAddress, '127.0.0.1');
  assert.equal(k.port, 41000);
  assert.equal(k.healthzPort, 41001);
  assert.equal(k.readOnlyPort, 0);
  assert.equal(k.cgroupDriver, 'cgroupfs');
  assert.equal(k.cgroupsPerQOS, false);
  assert.deepEqual(k.enforceNodeAllocatable, []);
  assert.equal(k.failSwapOn, false);
  assert.equal(k.podLogsDir, '/tmp/n/pod-logs');
});

const readyNode = (over: Partial<V1Node['spec']> = {}, status = 'True'): V1Node => ({
  spec: { ...over },
  status: { conditions: [{ type: 'Ready', status, message: 'kubelet is posting ready status' }] },
});

test('readiness: Ready=True and nothing keeping Pods away', () => {
  assert.deepEqual(nodeReadiness(undefined), { ready: false, detail: 'the node has not registered yet' });
  assert.equal(nodeReadiness(readyNode({}, 'False')).ready, false);
  assert.match(nodeReadiness(readyNode({}, 'False')).detail, /Ready=False/);
  const tainted = nodeReadiness(readyNode({ taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] }));
  assert.deepEqual(tainted, { ready: false, detail: 'tainted node.kubernetes.io/not-ready' });
  assert.equal(nodeReadiness(readyNode({ taints: [{ key: 'x', effect: 'PreferNoSchedule' }] })).ready, true);
  assert.equal(nodeReadiness(readyNode({ unschedulable: true })).ready, false);
  assert.deepEqual(nodeReadiness(readyNode()), { ready: true, detail: 'Ready' });
});
