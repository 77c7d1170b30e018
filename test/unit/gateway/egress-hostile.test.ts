// A hostile corpus against the egress proxy, over raw sockets (what well-behaved clients never
// send): each entry is refused with a clear status (or the connection is closed), and the
// gateway keeps serving: the slow clients hang on while the rest of the corpus runs, and a
// normal tunnel, forward and /healthz work afterwards. Prints the corpus size and outcome counts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startHttpDestination, type DestinationServer } from '../../support/tls-test-server.ts';
import { profile } from './fixtures.ts';
import { basic, connectRequest, rawExchange, startEgressGateway, type EgressGateway, type RawAnswer } from './egress-fixtures.ts';

let gw: EgressGateway;
let dest: DestinationServer;
let silent: net.Server;
let silentPort = 0;
let token = '';
let openToken = '';

before(async () => {
  dest = await startHttpDestination('plain.test');
  // Accepts and never says anything: a tunnel to it only idles.
  silent = net.createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as AddressInfo).port;
  gw = await startEgressGateway({
    hosts: { 'plain.test': ['127.0.0.1'], 'silent.test': ['127.0.0.1'], 'xn--bcher-kva.test': ['127.0.0.1'], 'inner.wild.test': ['10.0.0.1'], 'meta.wild.test': ['fd00:ec2::254'], 'mapped.wild.test': ['::ffff:127.0.0.1'] },
    profiles: [
      profile({ profileType: 'corporate_firewall', network: { mode: 'allowlist', egressAllowlist: [`plain.test:${dest.port}`, `silent.test:${silentPort}`, `xn--bcher-kva.test:${dest.port}`, '*.wild.test'] } } as never, 'fw'),
      profile({ profileType: 'personal', network: { mode: 'open' } } as never, 'personal'),
    ],
    headersTimeoutMs: 1_000,
    egressIdleTimeoutMs: 1_000,
  });
  token = gw.admit('hostile', 'fw');
  openToken = gw.admit('hostile-open', 'personal');
});

after(async () => {
  await gw.close();
  await dest.close();
  silent.close();
});

type Expect = { status: number; reason?: string } | 'closed';
interface Entry {
  name: string;
  run: () => Promise<RawAnswer>;
  expect: Expect;
}

const auth = () => `Proxy-Authorization: ${basic(token)}\r\n`;
const send = (bytes: string | Buffer) => () => rawExchange(gw.port, bytes, { timeoutMs: 15_000 });
const tunnel = (authority: string, tok = token) => send(connectRequest(authority, tok));
const get = (url: string, host: string, extra = '') => send(`GET ${url} HTTP/1.1\r\nHost: ${host}\r\n${auth()}${extra}\r\n`);

function corpus(): Entry[] {
  const p = dest.port;
  return [
    { name: 'CONNECT to a port the list does not name', run: tunnel(`plain.test:${p + 1}`), expect: { status: 403, reason: 'port_not_listed' } },
    { name: 'CONNECT to an unlisted host', run: tunnel('evil.example:443'), expect: { status: 403, reason: 'not_listed' } },
    { name: 'absolute-form URL whose host differs from Host', run: get(`http://plain.test:${p}/`, 'evil.example'), expect: { status: 400, reason: 'host_mismatch' } },
    { name: 'absolute-form URL whose port differs from Host', run: get(`http://plain.test:${p}/`, `plain.test:${p + 1}`), expect: { status: 400, reason: 'host_mismatch' } },
    { name: 'duplicate Host', run: send(`GET http://plain.test:${p}/ HTTP/1.1\r\nHost: plain.test:${p}\r\nHost: evil.example\r\n${auth()}\r\n`), expect: { status: 400, reason: 'duplicate_header' } },
    { name: 'duplicate Proxy-Authorization', run: send(`CONNECT plain.test:${p} HTTP/1.1\r\nHost: x\r\n${auth()}Proxy-Authorization: Bearer nothing\r\n\r\n`), expect: { status: 400, reason: 'duplicate_header' } },
    { name: 'two different Content-Length', run: send(`POST http://plain.test:${p}/ HTTP/1.1\r\nHost: plain.test:${p}\r\n${auth()}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`), expect: { status: 400 } },
    { name: 'Content-Length and Transfer-Encoding (smuggling shape)', run: send(`POST http://plain.test:${p}/ HTTP/1.1\r\nHost: plain.test:${p}\r\n${auth()}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n`), expect: { status: 400 } },
    { name: 'oversized headers (64 KiB)', run: send(`GET http://plain.test:${p}/ HTTP/1.1\r\nHost: plain.test:${p}\r\n${auth()}X-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`), expect: { status: 431 } },
    { name: 'a huge announced body to a refused host (not read)', run: send(`POST http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n${auth()}Content-Length: 10737418240\r\n\r\n${'x'.repeat(65536)}`), expect: { status: 403, reason: 'not_listed' } },
    { name: 'garbage request line', run: send('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n'), expect: { status: 400 } },
    { name: 'CONNECT with a path', run: tunnel('/etc/passwd'), expect: { status: 400, reason: 'bad_target' } },
    { name: 'CONNECT with userinfo', run: tunnel(`user@plain.test:${p}`), expect: { status: 400, reason: 'bad_target' } },
    { name: 'CONNECT without a port', run: tunnel('plain.test'), expect: { status: 400, reason: 'bad_target' } },
    { name: 'CONNECT to port 0', run: tunnel('plain.test:0'), expect: { status: 400, reason: 'bad_target' } },
    { name: 'absolute-form https:// to a destination that speaks no TLS (the proxy originates TLS)', run: get(`https://plain.test:${p}/`, `plain.test:${p}`), expect: { status: 502, reason: 'upstream_unreachable' } },
    { name: 'absolute-form ftp://', run: get('ftp://plain.test/', 'plain.test'), expect: { status: 400, reason: 'scheme_unsupported' } },
    { name: 'absolute-form with userinfo', run: get(`http://u:p@plain.test:${p}/`, `plain.test:${p}`), expect: { status: 400, reason: 'bad_target' } },
    { name: 'malformed Basic credentials', run: send(`CONNECT plain.test:${p} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic !!!\r\n\r\n`), expect: { status: 407, reason: 'invalid_token' } },
    { name: 'unknown auth scheme', run: send(`CONNECT plain.test:${p} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Digest x\r\n\r\n`), expect: { status: 407, reason: 'invalid_token' } },
    // Raw UTF-8 in the request line is refused by Node's HTTP parser; clients send IDNs as punycode.
    { name: 'IDN host as raw UTF-8 in the request line', run: send(Buffer.from(connectRequest(`bücher.test:${p}`, token), 'utf8')), expect: { status: 400 } },
    { name: 'IDN look-alike of a listed host (Cyrillic а), raw UTF-8', run: send(Buffer.from(connectRequest(`plаin.test:${p}`, token), 'utf8')), expect: { status: 400 } },
    { name: 'IDN host in punycode (listed)', run: tunnel(`XN--BCHER-KVA.test.:${p}`), expect: { status: 200 } },
    { name: 'IDN look-alike in punycode (not listed)', run: tunnel(`xn--pln-8cd0d.test:${p}`), expect: { status: 403, reason: 'not_listed' } },
    { name: 'trailing dot on a listed host', run: tunnel(`plain.test.:${p}`), expect: { status: 200 } },
    { name: 'upper case listed host', run: tunnel(`PLAIN.TEST:${p}`), expect: { status: 200 } },
    { name: 'IPv6 loopback literal (allowlist)', run: tunnel('[::1]:443'), expect: { status: 403, reason: 'not_listed' } },
    { name: 'IPv6 loopback literal (open)', run: tunnel('[::1]:443', openToken), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'IPv4-mapped metadata address (open)', run: tunnel('[::ffff:169.254.169.254]:80', openToken), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'IPv4-mapped loopback, hex form (open)', run: tunnel('[::ffff:7f00:1]:80', openToken), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'NAT64 metadata address (open)', run: tunnel('[64:ff9b::a9fe:a9fe]:80', openToken), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'AWS IPv6 metadata (open)', run: tunnel('[fd00:ec2::254]:80', openToken), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'loopback in hex notation (open)', run: tunnel('0x7f.1:80', openToken), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'loopback as one integer (open)', run: tunnel('2130706433:80', openToken), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'CGNAT literal (open)', run: tunnel('100.64.1.1:80', openToken), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'wildcard name resolving to a private address', run: tunnel('inner.wild.test:443'), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'wildcard name resolving to IPv6 metadata', run: tunnel('meta.wild.test:443'), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'wildcard name resolving to IPv4-mapped loopback', run: tunnel('mapped.wild.test:443'), expect: { status: 403, reason: 'forbidden_address' } },
    { name: 'a name that does not resolve', run: tunnel('gone.wild.test:443'), expect: { status: 502, reason: 'resolve_failed' } },
  ];
}

function outcome(r: RawAnswer): string {
  return r.status === 0 ? 'closed' : String(r.status);
}

test('the hostile corpus is refused with clear answers while slow clients hang on; the gateway serves normally afterwards', async (t) => {
  // Slow clients, started first and left running while the corpus goes on.
  const slowHeaders = rawExchange(gw.port, `CONNECT plain.test:${dest.port} HTTP/1.1\r\nHost: x\r\n`, { timeoutMs: 15_000 });
  const idle = await rawExchange(gw.port, connectRequest(`silent.test:${silentPort}`, token), { keepOpen: true });
  assert.equal(idle.status, 200, 'the idle tunnel opened');
  const idleClosed = new Promise<number>((resolve) => {
    const started = Date.now();
    idle.socket.on('close', () => resolve(Date.now() - started));
  });

  const entries = corpus();
  const counts: Record<string, number> = {};
  for (const e of entries) {
    const r = await e.run();
    counts[outcome(r)] = (counts[outcome(r)] ?? 0) + 1;
    if (r.status === 200) r.socket.destroy();
    if (e.expect === 'closed') {
      assert.equal(r.status, 0, `${e.name}: ${r.status}`);
      continue;
    }
    assert.equal(r.status, e.expect.status, `${e.name}: got ${r.status} ${r.headers['x-agent-machine-reason'] ?? ''} ${r.body.slice(0, 200)}`);
    if (e.expect.reason) assert.equal(r.headers['x-agent-machine-reason'], e.expect.reason, `${e.name}: ${r.body}`);
  }

  // A huge body to an allowed host is streamed through, not buffered.
  const big = 32 * 1024 * 1024;
  const res = await new Promise<number>((resolve, reject) => {
    const s = net.connect(gw.port, '127.0.0.1', () => {
      s.write(`POST http://plain.test:${dest.port}/big HTTP/1.1\r\nHost: plain.test:${dest.port}\r\n${auth()}Content-Length: ${big}\r\nConnection: close\r\n\r\n`);
      const chunk = Buffer.alloc(1024 * 1024, 120);
      let sent = 0;
      const pump = () => {
        while (sent < big) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
      };
      pump();
    });
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0)));
    s.on('error', reject);
  });
  assert.equal(res, 200);
  assert.equal(dest.seen.find((x) => x.path === '/big')?.bodyBytes, big);
  counts['200'] = (counts['200'] ?? 0) + 1;

  const slow = await slowHeaders;
  assert.ok(slow.status === 408 || slow.status === 0, `headers never finished: ${slow.status}`);
  counts[outcome(slow)] = (counts[outcome(slow)] ?? 0) + 1;
  const idleMs = await idleClosed;
  assert.ok(idleMs < 10_000, `the idle tunnel was closed after ${idleMs} ms`);
  counts.closed = (counts.closed ?? 0) + 1;

  // Everyone else is still served.
  assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  const ok = await rawExchange(gw.port, connectRequest(`plain.test:${dest.port}`, token), { keepOpen: true });
  assert.equal(ok.status, 200);
  ok.socket.destroy();
  const fwd = await rawExchange(gw.port, `GET http://plain.test:${dest.port}/after HTTP/1.1\r\nHost: plain.test:${dest.port}\r\n${auth()}\r\n`);
  assert.equal(fwd.status, 200);

  const size = entries.length + 3;
  t.diagnostic(`hostile egress corpus: ${size} entries; outcomes ${JSON.stringify(counts)}`);
  console.log(`hostile egress corpus: ${size} entries; outcomes ${JSON.stringify(counts)}`);
});
