// The gateway's egress proxy end to end: the real controller CLI (child process) on the real
// API server, real podman sandbox containers on the internal gateway network, busybox wget
// inside them using the HTTP_PROXY the controller injected, and real destination servers on
// the host that the proxy resolves through its hosts file (--egress-hosts: plain.test and
// allowed.test → 127.0.0.1; the proxy runs on the host, so that is where they are).
//
// busybox wget (1.35) speaks to a proxy only in absolute form: `GET http://...` with
// Proxy-Authorization from the URL's userinfo, and `GET https://...` for TLS targets (no
// CONNECT), for which the proxy originates the TLS itself (the controller trusts the test
// destination's certificate through NODE_EXTRA_CA_CERTS); it also ignores NO_PROXY. A CONNECT
// tunnel is exercised from the container with busybox nc (the tunnel's 200 and a plain HTTP
// exchange through it), and end to end with TLS in test/unit/gateway/egress-proxy.test.ts.
// (Its -T timeout option crashes this busybox-static build here, exit 139, whatever the
// network: the tests do without it.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { docker, kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { authority, createAs, createNamespace, eventually, getObject, suffix } from '../support/objects.ts';
import { startOpenAiTestServer, type OpenAiTestServer } from '../support/openai-test-server.ts';
import { startHttpDestination, startTlsDestination, type DestinationServer, type TlsDestinationServer } from '../support/tls-test-server.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'am-egress-'));
const id = suffix();
const MiB = 1024 * 1024;
const UPSTREAM_KEY = `sk-upstream-${randomBytes(16).toString('hex')}`;
const NETWORK = `am-eg-${id}`;
const FIREWALL = `eg-firewall-${id}`;
const LOCAL = `eg-local-${id}`;
const AIR = `eg-air-${id}`;
const QUERY_MARKER = `query-marker-${id}`;

let ns = '';
let upstream: OpenAiTestServer;
let dest: DestinationServer;
/** An HTTPS destination (self-signed for allowed.test; the controller is given its certificate). */
let tlsDest: TlsDestinationServer;
let controller: ControllerProcess;
/** The host's own non-loopback address: not routable from the internal network. */
let hostIp = '';

function profile(name: string, profileType: string, network: object) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'AgentMachineProfile',
    metadata: { name },
    spec: {
      profileType,
      authority: authority('alice', ['agent_machine.profile.create']),
      budgetCeilings: { modelCalls: 20, tokens: 100_000, connectorCalls: 10, cpuGpuComputeSeconds: 120, localDiskBytes: 256 * MiB, sandboxMemoryBytes: 256 * MiB, wallClockSeconds: 120, agentConcurrency: 8 },
      images: { allowedRegistries: ['localhost'] },
      network,
    },
  };
}

function binding(name: string, profileName: string) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ModelProviderBinding',
    metadata: { name, namespace: ns },
    spec: {
      profileRef: { name: profileName },
      provider: 'openai-compatible',
      endpoint: upstream.url,
      model: 'test-model',
      credentialsSecretRef: { name: 'llm-key', key: 'apiKey' },
      owner: 'alice',
      authority: authority('alice', ['agent_machine.model_provider.bind']),
    },
  };
}

function execution(name: string, profileName: string, script: string, bindingName?: string) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name, namespace: ns },
    spec: {
      profileRef: { name: profileName },
      authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run']),
      containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', script] }],
      ...(bindingName ? { modelProviderRef: { name: bindingName } } : {}),
      budget: { wallClockSeconds: 90, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 60 },
    },
  };
}

async function finished(name: string): Promise<{ phase: string; log: string }> {
  const s = await eventually(`${name} finished`, async () => {
    const st = (await getObject<any>('LocalAgentExecution', name, ns))?.status;
    return st?.phase && ['Succeeded', 'Failed', 'Cancelled', 'Denied'].includes(st.phase) ? st : undefined;
  }, 120_000);
  const rec = await getObject<any>('ContainerExecutionRecord', `${name}-agent`, ns);
  return { phase: s.phase, log: rec?.status?.logTail ?? JSON.stringify(s.conditions) };
}

const auditLines = (): any[] => readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** A shell line that prints `<label>-rc=<exit>` after wget, with wget's own message (stderr) folded in. */
const wget = (label: string, url: string, extra = '') => `${extra}wget -q -O - '${url}' 2>&1; echo "${label}-rc=$?"`;

before(async () => {
  hostIp = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)!.address;
  await installApi();
  ns = await createNamespace('egress');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  upstream = await startOpenAiTestServer({ apiKey: UPSTREAM_KEY, models: ['test-model'] });
  // On every host address: the proxy reaches it as plain.test (127.0.0.1) and as the host's IP.
  dest = await startHttpDestination('plain.test', '0.0.0.0');
  tlsDest = await startTlsDestination(['allowed.test']);
  writeFileSync(path.join(dir, 'test-ca.pem'), tlsDest.ca);
  writeFileSync(path.join(dir, 'hosts'), '127.0.0.1 plain.test allowed.test sneaky.wild.test\n');
  await docker().createNetwork({ Name: NETWORK, Internal: true, Driver: 'bridge' });
  const created = await createAs(
    'alice',
    profile(FIREWALL, 'corporate_firewall', { mode: 'allowlist', egressAllowlist: [`plain.test:${dest.port}`, `allowed.test:${dest.port}`, `allowed.test:${tlsDest.port}`, '*.wild.test', `${hostIp}:${dest.port}`] }),
    profile(LOCAL, 'local_model_provider', { mode: 'gateway-only' }),
    profile(AIR, 'airgapped_local_only', { mode: 'none' }),
  );
  assert.equal(created.code, 0, created.stderr);
  await kubectl(['create', 'secret', 'generic', 'llm-key', '-n', ns, `--from-literal=apiKey=${UPSTREAM_KEY}`]);
  controller = await startControllerProcess({
    auditLogPath: path.join(dir, 'audit.jsonl'),
    args: ['--gateway-bind-address', '0.0.0.0:0', '--gateway-network', NETWORK, '--egress-hosts', path.join(dir, 'hosts')],
    env: { NODE_EXTRA_CA_CERTS: path.join(dir, 'test-ca.pem') },
  });
  await controller.waitForLog((l) => l.msg === 'model gateway listening');
  for (const p of [FIREWALL, LOCAL, AIR]) await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${p}`]);
  assert.equal((await createAs('alice', binding('llm-local', LOCAL), binding('llm-air', AIR))).code, 0);
  for (const b of ['llm-local', 'llm-air']) await kubectl(['wait', '--for=condition=Ready', '--timeout=60s', '-n', ns, `modelproviderbinding/${b}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
  await upstream?.close();
  await dest?.close();
  await tlsDest?.close();
  const net = docker().getNetwork(NETWORK);
  const attached = Object.keys(((await net.inspect().catch(() => ({}))) as { Containers?: Record<string, unknown> }).Containers ?? {});
  for (const c of attached) await net.disconnect({ Container: c, Force: true }).catch(() => undefined);
  await net.remove().catch(() => undefined);
});

test('allowlist: a listed host → 200 through the proxy; off-list → 403 from the proxy; metadata, loopback and a name resolving to loopback → refused; a direct connection → fails', async () => {
  const p = dest.port;
  const tunnel = (authority: string) =>
    `printf 'CONNECT ${authority} HTTP/1.1\\r\\nHost: ${authority}\\r\\nProxy-Authorization: Basic %s\\r\\n\\r\\nGET /through-tunnel HTTP/1.1\\r\\nHost: allowed.test\\r\\nConnection: close\\r\\n\\r\\n' "$(printf 'agent:%s' "$AGENT_MACHINE_GATEWAY_TOKEN" | base64 | tr -d '\\n')" | nc -w 5 agent-machine-gateway "\${AGENT_MACHINE_GATEWAY_URL##*:}" | sed -n 's/^/tunnel ${authority}: /p'`;
  const script = [
    'case "$HTTP_PROXY" in http://agent:amx_*@agent-machine-gateway:*) echo proxy-env-ok;; esac',
    'echo "no_proxy=$NO_PROXY"',
    wget('allowed', `http://plain.test:${p}/from-container?q=${QUERY_MARKER}`),
    wget('offlist', 'http://evil.example/'),
    wget('metadata', 'http://169.254.169.254/latest/meta-data/'),
    wget('loopback', `http://127.0.0.2:${p}/`),
    wget('rebound', 'http://sneaky.wild.test/'),
    wget('viaproxy-hostip', `http://${hostIp}:${p}/via-proxy`),
    wget('direct', `http://${hostIp}:${p}/direct`, 'env -u http_proxy -u HTTP_PROXY '),
    wget('tls-allowed', `https://allowed.test:${tlsDest.port}/from-container-tls?q=${QUERY_MARKER}`),
    wget('tls-offlist', 'https://evil.example/'),
    tunnel(`allowed.test:${p}`),
    tunnel('evil.example:443'),
  ].join('\n');
  assert.equal((await createAs('alice', execution('fw', FIREWALL, script))).code, 0);
  const { phase, log } = await finished('fw');
  assert.equal(phase, 'Succeeded', log);
  assert.match(log, /proxy-env-ok/);
  assert.match(log, /no_proxy=agent-machine-gateway,localhost/);
  assert.match(log, /hello from plain\.test \(0 bytes received\)\s+allowed-rc=0/, log);
  assert.match(log, /server returned error: HTTP\/1\.1 403 Forbidden\s+offlist-rc=1/, log);
  assert.match(log, /403 Forbidden\s+metadata-rc=1/, log);
  assert.match(log, /403 Forbidden\s+loopback-rc=1/, log);
  assert.match(log, /403 Forbidden\s+rebound-rc=1/, log);
  assert.match(log, /hello from plain\.test[^\n]*\s+viaproxy-hostip-rc=0/, log);
  assert.match(log, /direct-rc=1/, log);
  assert.match(log, /hello from allowed\.test \(0 bytes received\)\s+tls-allowed-rc=0/, log);
  assert.match(log, /server returned error: HTTP\/1\.1 403 Forbidden\s+tls-offlist-rc=1/, log);
  const overTls = tlsDest.seen.filter((x) => x.path.startsWith('/from-container-tls'));
  assert.equal(overTls.length, 1, 'the HTTPS request reached the destination over TLS, once');
  assert.equal(overTls[0]!.proxyAuthorization, false, 'the token stays with the proxy');
  assert.doesNotMatch(log, /hello from plain\.test[^\n]*\s+direct-rc/, 'the direct connection reached nothing');
  assert.match(log, new RegExp(`tunnel allowed\\.test:${p}: HTTP/1\\.1 200 Connection established`), log);
  assert.match(log, new RegExp(`tunnel allowed\\.test:${p}: hello from plain\\.test`), log);
  assert.match(log, /tunnel evil\.example:443: HTTP\/1\.1 403 Forbidden/, log);
  assert.match(log, /tunnel evil\.example:443: egress refused \(not_listed\)/, log);
  const fromContainer = dest.seen.filter((s) => s.path.startsWith('/from-container'));
  assert.equal(fromContainer.length, 1);
  assert.equal(fromContainer[0]!.proxyAuthorization, false, 'the token stays with the proxy');
  assert.ok(!dest.seen.some((s) => s.path === '/direct'), 'nothing arrived directly');

  // Audited in batches (flushed every few seconds): destinations and bytes, never the query.
  const lines = await eventually('egress audit records', async () => {
    const mine = auditLines().filter((e) => e.object.name === 'fw' && e.egress);
    return mine.some((e) => e.outcome === 'allowed') && mine.some((e) => e.outcome === 'denied') ? mine : undefined;
  }, 30_000);
  const items = lines.flatMap((e: any) => e.egress);
  // Forwarded requests count body bytes (a GET sends none), tunnels every byte.
  const plain = items.find((i: any) => i.host === 'plain.test' && i.decision === 'allowed');
  assert.ok(plain && plain.bytesDown > 0, JSON.stringify(items));
  const tunnelled = items.find((i: any) => i.host === 'allowed.test' && i.port === p && i.decision === 'allowed');
  assert.ok(tunnelled && tunnelled.bytesUp > 0 && tunnelled.bytesDown > 0, JSON.stringify(items));
  assert.ok(items.some((i: any) => i.host === '169.254.169.254' && i.decision === 'denied'), JSON.stringify(items));
  assert.ok(items.some((i: any) => i.host === 'sneaky.wild.test' && i.reason === 'forbidden_address'), JSON.stringify(items));
  assert.equal(lines[0].actor, 'alice');
  const text = readFileSync(path.join(dir, 'audit.jsonl'), 'utf8');
  assert.ok(!text.includes(QUERY_MARKER) && !text.includes('/from-container'), 'no path or query in the audit log');
  await eventually('the originated TLS request audited', async () => auditLines().some((e) => e.object.name === 'fw' && e.egress?.some((i: any) => i.host === 'allowed.test' && i.port === tlsDest.port && i.decision === 'allowed')) || undefined, 30_000);
  assert.ok(!/amx_[A-Za-z0-9_-]{43}/.test(text), 'no token in the audit log');
  const metrics = await (await fetch(controller.metricsUrl)).text();
  assert.match(metrics, new RegExp(`agent_machine_gateway_egress_total\\{profile="${FIREWALL}",decision="denied",reason="not_listed"\\} [1-9]`));
  assert.match(metrics, new RegExp(`agent_machine_gateway_egress_total\\{profile="${FIREWALL}",decision="allowed",reason="listed"\\} [1-9]`));
});

test("an execution's own egressAllowlist narrows the profile's: a profile-listed host off it → 403; an entry the profile does not cover → Denied at admission", async () => {
  const p = dest.port;
  const narrowed = (name: string, list: string[], script: string) => {
    const ex = execution(name, FIREWALL, script);
    return { ...ex, spec: { ...ex.spec, network: { mode: 'allowlist', egressAllowlist: list } } };
  };
  const script = [wget('narrow-allowed', `http://allowed.test:${p}/narrow-allowed`), wget('narrow-plain', `http://plain.test:${p}/narrow-plain`)].join('\n');
  assert.equal((await createAs('alice', narrowed('narrow', [`allowed.test:${p}`], script), narrowed('narrow-wide', [`allowed.test:${p}`, 'evil.example'], 'true'))).code, 0);
  const { phase, log } = await finished('narrow');
  assert.equal(phase, 'Succeeded', log);
  assert.match(log, /hello from plain\.test[^\n]*\s+narrow-allowed-rc=0/, log);
  assert.match(log, /403 Forbidden\s+narrow-plain-rc=1/, log);
  assert.ok(dest.seen.some((s) => s.path === '/narrow-allowed') && !dest.seen.some((s) => s.path === '/narrow-plain'), 'only the narrowed list reached the destination');
  const wide = await finished('narrow-wide');
  assert.equal(wide.phase, 'Denied', wide.log);
  assert.match(wide.log, /egressAllowlist \[evil\.example\] is not covered by the profile's egressAllowlist/, wide.log);
});

test('gateway-only and airgapped: the gateway answers (model calls), every proxied destination is refused, a direct connection fails', async () => {
  const p = dest.port;
  const script = [
    `wget -q -O - --header "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/models" 2>&1; echo; echo "gateway-rc=$?"`,
    wget('plain', `http://plain.test:${p}/from-closed`),
    wget('direct', `http://${hostIp}:${p}/direct-closed`, 'env -u http_proxy -u HTTP_PROXY '),
  ].join('\n');
  assert.equal((await createAs('alice', execution('closed-gw', LOCAL, script, 'llm-local'), execution('closed-air', AIR, script, 'llm-air'))).code, 0);
  for (const [name, reason] of [['closed-gw', 'gateway-only'], ['closed-air', 'airgapped']] as const) {
    const { phase, log } = await finished(name);
    assert.equal(phase, 'Succeeded', log);
    assert.match(log, /"id":"test-model"/, `${reason}: the gateway itself is reachable: ${log}`);
    assert.match(log, /403 Forbidden\s+plain-rc=1/, `${reason}: ${log}`);
    assert.match(log, /direct-rc=1/, log);
  }
  assert.ok(!dest.seen.some((s) => s.path.includes('closed')), 'nothing reached the destination');
  const denied = await eventually('mode refusals audited', async () => {
    const items = auditLines().filter((e) => e.egress && ['closed-gw', 'closed-air'].includes(e.object.name)).flatMap((e) => e.egress.map((i: any) => `${e.object.name}:${i.reason}`));
    return items.includes('closed-gw:mode_gateway_only') && items.includes('closed-air:mode_none') ? items : undefined;
  }, 30_000);
  assert.ok(denied.length >= 2);
});
