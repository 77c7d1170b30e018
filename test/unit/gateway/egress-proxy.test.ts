// The egress proxy through the gateway's own listener, against real destinations: an HTTPS
// server with a self-signed certificate reached by CONNECT (undici's ProxyAgent as the client,
// a real TLS handshake through the tunnel), a plain HTTP server reached by absolute-form
// forwarding, and, for proxy chaining, a small Node forward proxy standing in for the
// corporate proxy (it handles CONNECT and absolute-form like squid would, and records what it
// was asked). Names are mapped by the proxy's test resolver (allowed.test → 127.0.0.1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { startHttpDestination, startTlsDestination, type DestinationServer, type TlsDestinationServer } from '../../support/tls-test-server.ts';
import { profile } from './fixtures.ts';
import { basic, connectRequest, rawExchange, startEgressGateway, type EgressGateway } from './egress-fixtures.ts';

let tlsDest: TlsDestinationServer;
let httpDest: DestinationServer;
let gw: EgressGateway;
let corporate: http.Server;
const corporateSeen: string[] = [];
/** A TCP service that answers only once the client has ended its side: HALF_ANSWER_BYTES, then it closes. */
let halfDest: net.Server;
const HALF_ANSWER_BYTES = 8 * 1024 * 1024;

function startHalfCloseDestination(): Promise<number> {
  halfDest = net.createServer({ allowHalfOpen: true }, (s) => {
    let got = 0;
    s.on('data', (c: Buffer) => (got += c.length));
    s.on('end', () => {
      const head = Buffer.from(`got ${got} bytes\n`);
      s.end(Buffer.concat([head, Buffer.alloc(HALF_ANSWER_BYTES - head.length, 0x61)]));
    });
    s.on('error', () => undefined);
  });
  return new Promise((resolve) => halfDest.listen(0, '127.0.0.1', () => resolve((halfDest.address() as AddressInfo).port)));
}
let halfPort = 0;

/** The corporate proxy stand-in: CONNECT tunnels and absolute-form forwarding, names mapped like the test resolver. */
function startCorporateProxy(): Promise<number> {
  const map = (host: string) => (host.endsWith('.test') ? '127.0.0.1' : host);
  corporate = http.createServer((req, res) => {
    corporateSeen.push(`${req.method} ${req.url}`);
    const u = new URL(req.url!);
    const out = http.request({ host: map(u.hostname), port: u.port || 80, path: u.pathname + u.search, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  corporate.on('connect', (req, socket: net.Socket, head) => {
    corporateSeen.push(`CONNECT ${req.url}`);
    const [host, port] = req.url!.split(':');
    if (host === 'refused-by-corp.test') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const up = net.connect(Number(port), map(host!), () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      up.write(head);
      up.pipe(socket).pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  return new Promise((resolve) => corporate.listen(0, '127.0.0.1', () => resolve((corporate.address() as AddressInfo).port)));
}

before(async () => {
  tlsDest = await startTlsDestination(['allowed.test', 'chained.test']);
  httpDest = await startHttpDestination('plain.test');
  const corpPort = await startCorporateProxy();
  halfPort = await startHalfCloseDestination();
  const fw = (name: string, extra: object = {}) =>
    profile({ profileType: 'corporate_firewall', network: { mode: 'allowlist', egressAllowlist: [`allowed.test:${tlsDest.port}`, `plain.test:${httpDest.port}`, '*.wild.test', `chained.test:${tlsDest.port}`, `refused-by-corp.test:${tlsDest.port}`, `half.test:${halfPort}`, `wrongname.test:${tlsDest.port}`], ...extra } } as never, name);
  gw = await startEgressGateway({
    originCa: [tlsDest.ca],
    hosts: { 'half.test': ['127.0.0.1'], 'wrongname.test': ['127.0.0.1'], 'allowed.test': ['127.0.0.1'], 'plain.test': ['127.0.0.1'], 'x.wild.test': ['127.0.0.1'], 'mixed.wild.test': ['93.184.215.14', '10.0.0.8'] },
    profiles: [
      fw('fw'),
      fw('chained', { proxy: `http://127.0.0.1:${corpPort}` }),
      profile({ profileType: 'personal', network: { mode: 'open' } } as never, 'personal'),
      profile({ profileType: 'local_model_provider', network: { mode: 'gateway-only' } } as never, 'gw-only'),
      profile({ profileType: 'airgapped_local_only', network: { mode: 'none' } } as never, 'air'),
    ],
  });
});

after(async () => {
  await gw.close();
  await tlsDest.close();
  await httpDest.close();
  halfDest.close();
  corporate.closeAllConnections();
  await new Promise((r) => corporate.close(r));
});

const agent = (token: string) => new ProxyAgent({ uri: gw.url, token: basic(token), requestTls: { ca: tlsDest.ca } });

test('HTTPS to an allowlisted host through a CONNECT tunnel: a real TLS handshake with the destination, 200', async () => {
  const token = gw.admit('tls', 'fw');
  const dispatcher = agent(token);
  try {
    const res = await undiciFetch(`https://allowed.test:${tlsDest.port}/some/path?secret=query-marker`, { dispatcher });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /hello from allowed\.test/);
  } finally {
    await dispatcher.close();
  }
  assert.equal(tlsDest.seen.at(-1)!.path, '/some/path?secret=query-marker');
  assert.equal(tlsDest.seen.at(-1)!.proxyAuthorization, false, 'the token never reaches the destination');
});

test('absolute-form https:// (busybox wget through a proxy): the proxy originates TLS, verifying the destination for its name; a certificate for other names → 502', async () => {
  const token = gw.admit('origin-tls', 'fw');
  const r = await rawExchange(gw.port, `GET https://allowed.test:${tlsDest.port}/originated?q=1 HTTP/1.1\r\nHost: allowed.test:${tlsDest.port}\r\nProxy-Authorization: ${basic(token)}\r\nConnection: close\r\n\r\n`);
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, /hello from allowed\.test/);
  const seen = tlsDest.seen.at(-1)!;
  assert.deepEqual([seen.path, seen.proxyAuthorization], ['/originated?q=1', false], 'the path went over TLS, the token stayed with the proxy');
  // wrongname.test is listed and maps to the same server, whose certificate names only allowed.test and chained.test.
  const wrong = await rawExchange(gw.port, `GET https://wrongname.test:${tlsDest.port}/ HTTP/1.1\r\nHost: wrongname.test:${tlsDest.port}\r\nProxy-Authorization: ${basic(token)}\r\nConnection: close\r\n\r\n`);
  assert.equal(wrong.status, 502, wrong.body);
  assert.equal(wrong.headers['x-agent-machine-reason'], 'upstream_unreachable');
  assert.match(wrong.body, /ERR_TLS_CERT_ALTNAME_INVALID/);
  assert.ok(!tlsDest.seen.some((x) => x.host?.startsWith('wrongname.test')), 'no request was sent to a destination that failed verification');
});

test('plain HTTP is forwarded (absolute-form): the destination gets the path and Host, never Proxy-Authorization', async () => {
  const token = gw.admit('plain', 'fw');
  const dispatcher = agent(token);
  try {
    const res = await undiciFetch(`http://plain.test:${httpDest.port}/upload?q=1`, { dispatcher, method: 'POST', body: 'x'.repeat(100_000) });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /100000 bytes received/);
  } finally {
    await dispatcher.close();
  }
  const seen = httpDest.seen.at(-1)!;
  assert.deepEqual([seen.method, seen.path, seen.host, seen.proxyAuthorization, seen.bodyBytes], ['POST', '/upload?q=1', `plain.test:${httpDest.port}`, false, 100_000]);
});

test('Bearer works as well as Basic; no token or a wrong one is 407 with Proxy-Authenticate', async () => {
  const token = gw.admit('bearer', 'fw');
  const ok = await rawExchange(gw.port, `CONNECT allowed.test:${tlsDest.port} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`, { keepOpen: true });
  assert.equal(ok.status, 200);
  ok.socket.destroy();
  for (const auth of ['', 'Proxy-Authorization: Basic Zm9vOmJhcg==\r\n', `Proxy-Authorization: Basic ${Buffer.from(token).toString('base64')}\r\n`]) {
    const r = await rawExchange(gw.port, `CONNECT allowed.test:${tlsDest.port} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`);
    assert.equal(r.status, 407, auth);
    assert.equal(r.headers['proxy-authenticate'], 'Basic realm="agent-machine-gateway"');
    assert.equal(r.headers['x-agent-machine-reason'], 'invalid_token');
  }
  // Source address is not identity: the same client without the header is refused.
  const fwd = await rawExchange(gw.port, `GET http://plain.test:${httpDest.port}/ HTTP/1.1\r\nHost: plain.test:${httpDest.port}\r\n\r\n`);
  assert.equal(fwd.status, 407);
});

test('refusals: off-list host, unlisted port, forbidden addresses (literal, resolved, wildcard) → 403 with a reason header and body', async () => {
  const token = gw.admit('refused', 'fw');
  const cases: Array<[string, string]> = [
    ['evil.example:443', 'not_listed'],
    [`allowed.test:${tlsDest.port + 1}`, 'port_not_listed'],
    ['127.0.0.1:22', 'not_listed'],
    ['169.254.169.254:80', 'not_listed'],
    ['x.wild.test:443', 'forbidden_address'],
    ['mixed.wild.test:443', 'forbidden_address'],
    ['nowhere.wild.test:443', 'resolve_failed'],
  ];
  for (const [authority, reason] of cases) {
    const r = await rawExchange(gw.port, connectRequest(authority, token));
    assert.equal(r.headers['x-agent-machine-reason'], reason, `${authority}: ${r.body}`);
    assert.equal(r.status, reason === 'resolve_failed' ? 502 : 403, authority);
    assert.match(r.body, new RegExp(`^egress refused \\(${reason}\\): `));
  }
  const fwd = await rawExchange(gw.port, `GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\nProxy-Authorization: ${basic(token)}\r\n\r\n`);
  assert.deepEqual([fwd.status, fwd.headers['x-agent-machine-reason']], [403, 'not_listed']);
});

test("RBAC re-checked per connection: the delegator's `use` on the profile gone → 403 authority_lost (audited), nothing dialled; back → allowed", async () => {
  const token = gw.admit('rbac', 'fw');
  const asked = gw.authority.asked.length;
  const ok = await rawExchange(gw.port, connectRequest(`allowed.test:${tlsDest.port}`, token), { keepOpen: true });
  assert.equal(ok.status, 200);
  ok.socket.destroy();
  const question = gw.authority.asked.at(-1)!;
  assert.ok(gw.authority.asked.length > asked, 'the connection asked RBAC');
  assert.deepEqual(question.permissions.map((p) => `${p.verb} ${p.resource}/${p.name}`), ['use agentmachineprofiles/fw']);
  const seenBefore = tlsDest.seen.length;
  gw.authority.answer = 'deny';
  try {
    const audited = gw.authority.audited.length;
    const r = await rawExchange(gw.port, connectRequest(`allowed.test:${tlsDest.port}`, token));
    assert.deepEqual([r.status, r.headers['x-agent-machine-reason']], [403, 'authority_lost'], r.body);
    assert.match(r.body, /^egress refused \(authority_lost\): .*RBAC no longer allows it/);
    const fwd = await rawExchange(gw.port, `GET http://plain.test:${httpDest.port}/x HTTP/1.1\r\nHost: plain.test:${httpDest.port}\r\nProxy-Authorization: ${basic(token)}\r\n\r\n`);
    assert.deepEqual([fwd.status, fwd.headers['x-agent-machine-reason']], [403, 'authority_lost']);
    assert.deepEqual(gw.authority.audited.slice(audited).map((a) => [a.name, a.command.reason]), [['rbac', 'AuthorityLost'], ['rbac', 'AuthorityLost']]);
    gw.authority.answer = 'down';
    const down = await rawExchange(gw.port, connectRequest(`allowed.test:${tlsDest.port}`, token));
    assert.deepEqual([down.status, down.headers['x-agent-machine-reason']], [503, 'authorization_unavailable'], 'no answer from RBAC fails closed');
  } finally {
    gw.authority.answer = 'allow';
  }
  assert.equal(tlsDest.seen.length, seenBefore, 'no refused connection reached the destination');
  const again = await rawExchange(gw.port, connectRequest(`allowed.test:${tlsDest.port}`, token), { keepOpen: true });
  assert.equal(again.status, 200);
  again.socket.destroy();
});

test("an execution's spec.network.egressAllowlist narrows the profile's: a host on the profile's list but not the execution's is refused", async () => {
  const token = gw.admit('narrow', 'fw', { network: { mode: 'allowlist', egressAllowlist: [`allowed.test:${tlsDest.port}`] } });
  const ok = await rawExchange(gw.port, connectRequest(`allowed.test:${tlsDest.port}`, token), { keepOpen: true });
  assert.equal(ok.status, 200);
  ok.socket.destroy();
  const r = await rawExchange(gw.port, `GET http://plain.test:${httpDest.port}/x HTTP/1.1\r\nHost: plain.test:${httpDest.port}\r\nProxy-Authorization: ${basic(token)}\r\n\r\n`);
  assert.deepEqual([r.status, r.headers['x-agent-machine-reason']], [403, 'not_listed']);
  assert.match(r.body, /allowlists of profile fw and the execution/);
  const wide = await rawExchange(gw.port, `GET http://plain.test:${httpDest.port}/x HTTP/1.1\r\nHost: plain.test:${httpDest.port}\r\nProxy-Authorization: ${basic(gw.admit('wide', 'fw'))}\r\n\r\n`);
  assert.equal(wide.status, 200, 'the same host under the profile\'s list alone');
});

test('gateway-only and airgapped executions: every proxy request refused, naming the mode', async () => {
  for (const [p, reason] of [['gw-only', 'mode_gateway_only'], ['air', 'mode_none']] as const) {
    const token = gw.admit(`m-${p}`, p);
    const r = await rawExchange(gw.port, connectRequest(`allowed.test:${tlsDest.port}`, token));
    assert.deepEqual([r.status, r.headers['x-agent-machine-reason']], [403, reason]);
  }
});

test('open (personal): any public destination, but never loopback, metadata or private addresses', async () => {
  const token = gw.admit('open', 'personal');
  for (const authority of ['127.0.0.1:80', '169.254.169.254:80', '[::ffff:127.0.0.1]:80', '[fd00:ec2::254]:80', 'x.wild.test:443']) {
    const r = await rawExchange(gw.port, connectRequest(authority, token));
    assert.deepEqual([r.status, r.headers['x-agent-machine-reason']], [403, 'forbidden_address'], authority);
  }
});

test('proxy chaining: allowed connections leave through the corporate proxy (CONNECT and absolute-form); its refusal is a 502', async () => {
  const token = gw.admit('chain', 'chained');
  const dispatcher = agent(token);
  try {
    const res = await undiciFetch(`https://chained.test:${tlsDest.port}/via-corp`, { dispatcher });
    assert.equal(res.status, 200);
    await res.text();
    const plain = await undiciFetch(`http://plain.test:${httpDest.port}/via-corp-plain`, { dispatcher });
    assert.equal(plain.status, 200);
    await plain.text();
  } finally {
    await dispatcher.close();
  }
  assert.ok(corporateSeen.includes(`CONNECT chained.test:${tlsDest.port}`), JSON.stringify(corporateSeen));
  assert.ok(corporateSeen.includes(`GET http://plain.test:${httpDest.port}/via-corp-plain`), JSON.stringify(corporateSeen));
  // Off-list stays refused by agent-machine: the corporate proxy is never asked.
  const before = corporateSeen.length;
  const off = await rawExchange(gw.port, connectRequest('evil.example:443', token));
  assert.equal(off.status, 403);
  assert.equal(corporateSeen.length, before);
  const corpRefused = await rawExchange(gw.port, connectRequest(`refused-by-corp.test:${tlsDest.port}`, token));
  assert.deepEqual([corpRefused.status, corpRefused.headers['x-agent-machine-reason']], [502, 'upstream_proxy_refused']);
});

test('a proxy request naming the gateway itself is served by the gateway (clients such as busybox wget ignore NO_PROXY)', async () => {
  const token = gw.admit('self', 'air');
  const r = await rawExchange(gw.port, `GET http://agent-machine-gateway:${gw.port}/healthz HTTP/1.1\r\nHost: agent-machine-gateway:${gw.port}\r\nProxy-Authorization: ${basic(token)}\r\n\r\n`);
  assert.deepEqual([r.status, r.body], [200, 'ok\n']);
  // Another port of the same name is not the gateway: the egress proxy decides (airgapped: refused).
  const other = await rawExchange(gw.port, `GET http://agent-machine-gateway:${gw.port + 1}/healthz HTTP/1.1\r\nHost: agent-machine-gateway:${gw.port + 1}\r\nProxy-Authorization: ${basic(token)}\r\n\r\n`);
  assert.deepEqual([other.status, other.headers['x-agent-machine-reason']], [403, 'mode_none']);
  // busybox wget sends a proxied --post-data request as GET with the body: taken as the POST it means.
  const body = JSON.stringify({ tool: 'mcp.github/create_issue', action: 'create' });
  const post = await rawExchange(gw.port, `GET http://agent-machine-gateway:${gw.port}/v1/tools/authorize HTTP/1.1\r\nHost: agent-machine-gateway:${gw.port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  assert.equal(post.status, 403, post.body);
  assert.equal(JSON.parse(post.body).allowed, false, 'answered by the tool decision route');
  const bodiless = await rawExchange(gw.port, `GET http://agent-machine-gateway:${gw.port}/v1/tools/authorize HTTP/1.1\r\nHost: agent-machine-gateway:${gw.port}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  assert.equal(bodiless.status, 405, 'a GET without a body is still a GET');
});

const SLOW_READ_STEP = 512 * 1024;

/** Sends bytes, ends its side (a half-close) and reads everything until the peer closes, pausing pauseMs every SLOW_READ_STEP bytes. */
function halfClosedExchange(port: number, first: string, then?: (sent: (more: string) => void, head: string) => void, pauseMs = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let size = 0;
    let answered = false;
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (then && !answered) {
        const all = Buffer.concat(chunks).toString('latin1');
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) return;
        answered = true;
        chunks.length = 0;
        const rest = Buffer.from(all.slice(end + 4), 'latin1');
        if (rest.length > 0) chunks.push(rest);
        then((more) => s.end(more), all.slice(0, end));
      } else if (pauseMs > 0 && answered && Math.floor((size - c.length) / SLOW_READ_STEP) !== Math.floor(size / SLOW_READ_STEP)) {
        // A slow reader: what the destination sent waits in the gateway, up to its last bytes.
        s.pause();
        setTimeout(() => s.resume(), pauseMs);
      }
    });
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.setTimeout(15_000, () => s.destroy(new Error(`no end within 15 s (${size} bytes)`)));
    if (then) s.write(first);
    else s.end(first);
  });
}

test('a half-closed client (its request sent, its side ended) gets the whole answer: absolute-form forwarding and a CONNECT tunnel', async () => {
  const token = gw.admit('half', 'fw');
  // Absolute-form: the request, then FIN at once.
  const forwarded = (await halfClosedExchange(gw.port, `GET http://plain.test:${httpDest.port}/half HTTP/1.1\r\nHost: plain.test:${httpDest.port}\r\nProxy-Authorization: ${basic(token)}\r\n\r\n`)).toString('latin1');
  assert.match(forwarded, /^HTTP\/1\.1 200 /, forwarded.slice(0, 200));
  assert.match(forwarded, /hello from plain\.test/);
  // CONNECT: once the tunnel stands, bytes and FIN; the destination answers 8 MiB after the FIN
  // and closes, while the client reads slowly.
  let head = '';
  const answer = await halfClosedExchange(
    gw.port,
    connectRequest(`half.test:${halfPort}`, token),
    (send, h) => {
      head = h;
      send('twelve bytes');
    },
    40,
  );
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.match(answer.subarray(0, 32).toString('latin1'), /^got 12 bytes\n/);
  assert.equal(answer.length, HALF_ANSWER_BYTES, 'every byte the destination sent before closing reached the client');
});

test('metrics per profile/decision/reason; audit batches name execution, delegator, host, port, bytes, never paths, queries or tokens', async () => {
  const token = gw.admit('audited', 'fw');
  const dispatcher = agent(token);
  try {
    const res = await undiciFetch(`https://allowed.test:${tlsDest.port}/private/path?token=query-marker`, { dispatcher });
    await res.text();
  } finally {
    await dispatcher.close();
  }
  await rawExchange(gw.port, connectRequest('evil.example:443', token));
  await rawExchange(gw.port, connectRequest('evil.example:443', token));
  // Allowed tunnels are noted when they close.
  await new Promise((r) => setTimeout(r, 100));
  await gw.server.close();
  const mine = gw.audited.filter((r) => r.object.name === 'audited');
  const allowed = mine.find((r) => r.outcome === 'allowed')!;
  const denied = mine.find((r) => r.outcome === 'denied')!;
  assert.ok(allowed && denied, JSON.stringify(mine));
  assert.equal(allowed.actor, 'alice');
  assert.equal(allowed.delegate, 'agent:x');
  assert.equal(allowed.object.kind, 'LocalAgentExecution');
  const item = allowed.egress!.find((e) => e.host === 'allowed.test')!;
  assert.equal(item.port, tlsDest.port);
  assert.ok(item.bytesUp > 200 && item.bytesDown > 200, JSON.stringify(item));
  assert.deepEqual(denied.egress, [{ host: 'evil.example', port: 443, decision: 'denied', reason: 'not_listed', connections: 2, bytesUp: 0, bytesDown: 0 }]);
  const text = JSON.stringify(gw.audited) + (await gw.registry.metrics());
  for (const marker of ['query-marker', '/private/path', token]) assert.ok(!text.includes(marker), marker);
  const metrics = await gw.registry.metrics();
  assert.match(metrics, /agent_machine_gateway_egress_total\{profile="fw",decision="denied",reason="not_listed"\} \d+/);
  assert.match(metrics, /agent_machine_gateway_egress_total\{profile="fw",decision="allowed",reason="listed"\} \d+/);
  assert.match(metrics, /agent_machine_gateway_egress_bytes_total\{profile="fw",direction="down"\} \d+/);
});
