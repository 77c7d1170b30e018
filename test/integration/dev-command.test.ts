// `make run` (agent-machine dev) from the user's side: with no cluster configured it starts its
// own control plane and podman, prints a kubectl line that works, accepts every example, reconciles
// them, and Ctrl-C stops everything it started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { eventually } from '../support/objects.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));


/** `agent-machine dev` with no cluster and no engine configured: the embedded default must provide both. */
function startDev(dataDir: string, args: string[]) {
  const env = { ...process.env };
  delete env.KUBECONFIG;
  delete env.DOCKER_HOST;
  const child = spawn(process.execPath, [path.join(root, 'bin/agent-machine.js'), 'dev', ...args, '--data-dir', dataDir, '--metrics-bind-address', '127.0.0.1:0', '--audit-log', path.join(dataDir, 'audit.jsonl')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, out: () => out };
}

test('agent-machine dev: local control plane, kubectl line, examples applied and reconciled, Ctrl-C cleans up', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'am-dev-'));
  const dev = startDev(dataDir, []);
  const { child, exited } = dev;
  try {
    const kubeconfig = await eventually('the kubectl line', async () => /export KUBECONFIG=(\S+)/.exec(dev.out())?.[1], 60_000, 200);
    assert.match(kubeconfig, /alice\.kubeconfig$/);
    const kubectl = (...args: string[]) => run('kubectl', ['--kubeconfig', kubeconfig, ...args], { cwd: root });
    const get = await kubectl('get', 'agent-machine');
    assert.doesNotMatch(get.stderr, /error/i);
    const applied = await kubectl('apply', '-R', '-f', 'examples/');
    assert.equal(applied.stdout.trim().split('\n').length, 22, applied.stdout);
    await kubectl('wait', '--for=condition=Ready', '--timeout=30s', 'agentmachineprofile', '--all');
    await kubectl('wait', '--for=condition=Ready', '--timeout=30s', '-n', 'default', 'toolgrantrecord/issue-triage-github');
    // gateway-only agents reach the model gateway over an internal network make run prepares.
    const network = JSON.parse((await run('podman', ['network', 'inspect', 'agent-machine-gateway'])).stdout)[0];
    assert.equal(network.internal, true);
    const listed = (await kubectl('get', 'agent-machine', '-A')).stdout;
    assert.match(listed, /personal\s+personal\s+open\s+Ready\s+True/);
    await kubectl('describe', 'toolgrantrecord', 'issue-triage-github', '-n', 'default');
    // The README's quick start, to the end: an example execution completes, its status shows,
    // and a redacted diagnostics bundle of it is exported.
    await kubectl('wait', '--for=condition=Ready', '--timeout=120s', '-n', 'default', 'localagentexecution/hello-agent');
    const hello = (await kubectl('get', 'localagentexecution', 'hello-agent', '-n', 'default')).stdout;
    assert.match(hello, /hello-agent\s+.*Succeeded/, hello);
    // The corporate-firewall profile's allowlist, enforced by the gateway's egress proxy: an
    // off-list host refused by the proxy, listed ones passed on to the profile's corporate proxy
    // (which does not exist here: 502).
    await kubectl('wait', '--for=jsonpath={.status.phase}=Succeeded', '--timeout=180s', '-n', 'default', 'localagentexecution/firewall-egress');
    const egress = (await kubectl('get', 'containerexecutionrecord', 'firewall-egress-agent', '-n', 'default', '-o', 'jsonpath={.status.logTail}')).stdout;
    assert.match(egress, /evil\.example HTTP\/1\.1 403 Forbidden\s+evil\.example x-agent-machine-reason: not_listed/i, egress);
    for (const host of ['pypi.org', 'builds.corp.example.com']) assert.match(egress, new RegExp(`${host.replaceAll('.', '\\.')} HTTP/1\\.1 502 Bad Gateway\\s+${host.replaceAll('.', '\\.')} x-agent-machine-reason: upstream_(unreachable|proxy_refused)`, 'i'), egress);
    const bundle = path.join(dataDir, 'hello-agent.tar.gz');
    await run(process.execPath, [path.join(root, 'bin/agent-machine.js'), 'diagnostics', 'export', '-n', 'default', '--execution', 'hello-agent', '-o', bundle], { cwd: root, env: { ...process.env, DOCKER_HOST: undefined, KUBECONFIG: kubeconfig } });
    const files = (await run('tar', ['-tzf', bundle])).stdout;
    assert.match(files, /manifest\.json/, files);
    assert.match(files, /hello-agent/, files);
    // The in-cluster bundle of the examples, downloaded as alice (make run binds her the
    // diagnostics reader role), as the README shows.
    await kubectl('wait', '--for=condition=Ready', '--timeout=60s', '-n', 'default', 'agentmachinediagnosticbundle/hello-agent-bundle');
    const fetched = path.join(dataDir, 'hello-agent-bundle.tar.gz');
    await run(process.execPath, [path.join(root, 'bin/agent-machine.js'), 'diagnostics', 'fetch', 'hello-agent-bundle', '-n', 'default', '-o', fetched], { cwd: root, env: { ...process.env, DOCKER_HOST: undefined, KUBECONFIG: kubeconfig } });
    assert.match((await run('tar', ['-tzf', fetched])).stdout, /manifest\.json/);
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0, dev.out().slice(-2000));
  // Once the controller says it is done, nothing of it still talks to the control plane or
  // the engine it is stopping (a runtime watch left running retried against them).
  const afterShutdown = dev.out().slice(dev.out().indexOf('shutdown complete'));
  assert.ok(dev.out().includes('shutdown complete'), dev.out().slice(-2000));
  assert.doesNotMatch(afterShutdown, /ECONNREFUSED|connection refused|reconnecting|watch .*failed/i, afterShutdown.slice(0, 3000));
  // Everything it started is gone: no process still uses its data dir.
  const { stdout: ps } = await run('ps', ['-eo', 'args']);
  assert.ok(!ps.split('\n').some((l) => l.includes(dataDir)), `left running:\n${ps.split('\n').filter((l) => l.includes(dataDir)).join('\n')}`);
  assert.ok(existsSync(path.join(dataDir, 'control-plane')), 'state kept for the next run');
});

test('agent-machine dev with its metrics port taken: one clear line and exit 1 before anything is started', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as AddressInfo).port;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'am-dev-busy-'));
  try {
    const started = Date.now();
    const child = spawn(process.execPath, [path.join(root, 'bin/agent-machine.js'), 'dev', '--data-dir', dataDir, '--metrics-bind-address', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.equal(err.trim(), `agent-machine dev: 127.0.0.1:${port} (--metrics-bind-address) is already in use — another make run? Stop it, or pick another port: make run ARGS='--metrics-bind-address 127.0.0.1:0'`);
    assert.ok(Date.now() - started < 10_000, 'failed fast');
    assert.equal(existsSync(path.join(dataDir, 'control-plane')), false, 'no control plane was started');
  } finally {
    holder.close();
  }
});

test('agent-machine dev --runtime kubernetes: a local node starts too, hello-agent runs in a real Pod, Ctrl-C stops the node', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'am-dev-node-'));
  const dev = startDev(dataDir, ['--runtime', 'kubernetes', '--gateway-bind-address', '127.0.0.1:0']);
  const { child, exited } = dev;
  let nodeAddress = '';
  try {
    const kubeconfig = await eventually('the kubectl line', async () => /export KUBECONFIG=(\S+)/.exec(dev.out())?.[1], 180_000, 200);
    assert.match(dev.out(), /Pods run on the local node agent-machine-node/);
    const kubectl = (...args: string[]) => run('kubectl', ['--kubeconfig', kubeconfig, ...args], { cwd: root });
    nodeAddress = (await run('kubectl', ['--kubeconfig', path.join(path.dirname(kubeconfig), 'agent-machine-admin.kubeconfig'), 'get', 'node', 'agent-machine-node', '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}'])).stdout;
    assert.match(nodeAddress, /^10\.\d+\.\d+\.\d+$/);
    await kubectl('apply', '-f', 'examples/profiles/personal.yaml', '-f', 'examples/executions/hello-agent.yaml');
    await eventually('hello-agent Succeeded', async () => (await kubectl('get', 'localagentexecution', 'hello-agent', '-n', 'default', '-o', 'jsonpath={.status.phase}')).stdout === 'Succeeded', 120_000, 500);
    const record = JSON.parse((await kubectl('get', 'containerexecutionrecord', 'hello-agent-agent', '-n', 'default', '-o', 'json')).stdout);
    assert.equal(record.status.runtime, 'kubernetes');
    // Read from the kubelet: the container ran in a Pod on the node.
    assert.match(record.status.logTail, /hello from an agent/);
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0, dev.out().slice(-2000));
  const { stdout: ps } = await run('ps', ['-eo', 'args']);
  assert.ok(!ps.split('\n').some((l) => l.includes(dataDir)), `left running:\n${ps.split('\n').filter((l) => l.includes(dataDir)).join('\n')}`);
  const { stdout: addrs } = await run('ip', ['-o', '-4', 'addr', 'show']);
  assert.ok(!addrs.includes(`${nodeAddress}/32`), 'the node\'s address was removed');
});
