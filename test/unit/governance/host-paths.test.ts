import assert from 'node:assert/strict';
import test from 'node:test';
import { credentialMountAllowed, credentialStoreIn, forbiddenHostPath, isNormalizedAbsolute } from '../../../src/governance/host-paths.ts';

test('credential and key stores in any home directory and under /root', () => {
  const stores: [string, string][] = [
    ['/home/alice/.ssh', '/home/alice/.ssh'],
    ['/home/alice/.ssh/id_ed25519', '/home/alice/.ssh'],
    ['/root/.kube', '/root/.kube'],
    ['/root/.kube/config', '/root/.kube'],
    ['/home/alice/.aws', '/home/alice/.aws'],
    ['/Users/bob/.config/gcloud/credentials.db', '/Users/bob/.config/gcloud'],
    ['/home/alice/.docker/config.json', '/home/alice/.docker'],
    ['/home/alice/.git-credentials', '/home/alice/.git-credentials'],
    ['/home/alice/.local/share/keyrings', '/home/alice/.local/share/keyrings'],
    // A folder that holds a store exposes it.
    ['/home/alice/.config', '/home/alice/.config/gcloud'],
    ['/home/alice/.local', '/home/alice/.local/share/keyrings'],
  ];
  for (const [path, store] of stores) assert.equal(credentialStoreIn(path), store, path);
  for (const path of ['/home/alice/project', '/home/alice/.sshd-notes', '/root/work', '/srv/data', '/home', '/tmp/.ssh', '/home/alice/src/.aws-docs']) {
    assert.equal(credentialStoreIn(path), undefined, path);
  }
});

test("a profile's credentialMounts allows the store it names and what is inside it, nothing else", () => {
  assert.equal(credentialMountAllowed('/home/alice/.ssh', ['/home/alice/.ssh']), true);
  assert.equal(credentialMountAllowed('/home/alice/.ssh/id_ed25519', ['/home/alice/.ssh']), true);
  assert.equal(credentialMountAllowed('/home/alice/.aws', ['/home/alice/.ssh']), false);
  assert.equal(credentialMountAllowed('/home/bob/.ssh', ['/home/alice/.ssh']), false);
  assert.equal(credentialMountAllowed('/home/alice/.ssh', undefined), false);
  assert.equal(credentialMountAllowed('/home/alice/.ssh', ['/home/alice/../alice/.ssh']), false, 'names must be normalized');
});

test("the control plane's and the node runtime's state are never mounted", () => {
  for (const path of ['/var/lib/etcd', '/var/lib/etcd/member/snap', '/var/lib/containerd', '/var/lib/k0s', '/var/lib/minikube']) {
    assert.match(forbiddenHostPath(path) ?? '', /never mounted/, path);
  }
});

test('host paths: normalized, no system trees, no whole homes', () => {
  assert.ok(isNormalizedAbsolute('/home/alice/project'));
  for (const p of ['relative', '/a//b', '/a/../b', '/a/./b', '/a/', '']) assert.ok(!isNormalizedAbsolute(p), p);
  for (const p of ['/', '/etc', '/etc/ssl', '/proc/1', '/sys', '/dev/sda', '/var/run/docker.sock', '/run/podman/podman.sock', '/home', '/home/alice', '/root', '/var/lib/kubelet/pods', '/a/../etc']) {
    assert.ok(forbiddenHostPath(p) !== undefined, p);
  }
  for (const p of ['/home/alice/project', '/root/work', '/srv/data', '/etcetera', '/var/lib/agent']) assert.equal(forbiddenHostPath(p), undefined, p);
  assert.match(forbiddenHostPath('/home/alice') ?? '', /whole home directory/);
});
