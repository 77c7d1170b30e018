import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowlistCovers, checkResolved, normalizeHost, parseAbsoluteUrl, parseAllowEntry, parseAuthority, planEgress, type EgressFacts, type EgressGo } from '../../../src/gateway/egress-plan.ts';

const facts = (f: Partial<EgressFacts> = {}): EgressFacts => ({ mode: 'allowlist', profileName: 'fw', profileType: 'corporate_firewall', allowlist: ['github.com', '*.corp.example.com', 'pypi.org:8443', '203.0.114.7', 'allowed.test'], ...f });
const at = (authority: string) => parseAuthority(authority)!;
const reason = (p: ReturnType<typeof planEgress>) => (p.allowed ? p.reason : p.reason);

test('host normalisation: case, trailing dot, IDN to punycode, IPv4 notations, IPv6 brackets', () => {
  assert.deepEqual(normalizeHost('GitHub.COM.'), { host: 'github.com' });
  assert.deepEqual(normalizeHost('bücher.example'), { host: 'xn--bcher-kva.example' });
  assert.deepEqual(normalizeHost('0x7f.1'), { host: '127.0.0.1', ip: 4 });
  assert.deepEqual(normalizeHost('2130706433'), { host: '127.0.0.1', ip: 4 });
  assert.deepEqual(normalizeHost('[::FFFF:7f00:1]'), { host: '::ffff:7f00:1', ip: 6 });
  for (const bad of ['', 'a b', 'a/b', 'user@host', 'a..b', '.', 'x'.repeat(300)]) assert.equal(normalizeHost(bad), undefined, bad);
});

test('CONNECT authorities and absolute URLs', () => {
  assert.deepEqual(at('GitHub.com.:443'), { host: 'github.com', port: 443 });
  assert.deepEqual(at('[::1]:443'), { host: '::1', port: 443, ip: 6 });
  for (const bad of ['github.com', 'github.com:0', 'github.com:65536', 'a@b:443', '/x:1', 'github.com:443/x', '[::1]', 'a b:1']) assert.equal(parseAuthority(bad), undefined, bad);
  assert.deepEqual(parseAbsoluteUrl('http://Example.com/a?b=c'), { scheme: 'http', target: { host: 'example.com', port: 80 } });
  assert.deepEqual(parseAbsoluteUrl('https://example.com:8443/'), { scheme: 'https', target: { host: 'example.com', port: 8443 } });
  assert.equal(parseAbsoluteUrl('http://user:pw@example.com/'), undefined, 'userinfo is refused');
  assert.equal(parseAbsoluteUrl('/relative'), undefined);
});

test('allowlist entries: exact, wildcard, with port; wildcard IPs and bad ports allow nothing', () => {
  assert.deepEqual(parseAllowEntry('*.Corp.Example.com'), { wildcard: true, host: 'corp.example.com' });
  assert.deepEqual(parseAllowEntry('pypi.org:8443'), { wildcard: false, host: 'pypi.org', port: 8443 });
  assert.equal(parseAllowEntry('*.10.0.0.1'), undefined);
  assert.equal(parseAllowEntry('x.org:99999'), undefined);
});

test('none and gateway-only refuse everything; open is personal only', () => {
  assert.equal(reason(planEgress(facts({ mode: 'none' }), at('github.com:443'))), 'mode_none');
  assert.equal(reason(planEgress(facts({ mode: 'gateway-only' }), at('github.com:443'))), 'mode_gateway_only');
  assert.equal(reason(planEgress(facts({ mode: 'open' }), at('anything.example:22'))), 'open_not_personal');
  const open = planEgress(facts({ mode: 'open', profileType: 'personal', allowlist: [] }), at('anything.example:22'));
  assert.deepEqual([open.allowed, reason(open)], [true, 'open']);
  // Open still never reaches the controller's own network.
  assert.equal(reason(planEgress(facts({ mode: 'open', profileType: 'personal', allowlist: [] }), at('169.254.169.254:80'))), 'forbidden_address');
});

test('allowlist: exact and wildcard names; ports: an entry without one allows 80 and 443 only', () => {
  const ok = (a: string) => planEgress(facts(), at(a));
  assert.deepEqual([ok('github.com:443').allowed, (ok('github.com:443') as EgressGo).explicit], [true, true]);
  assert.equal(ok('GITHUB.com.:80').allowed, true);
  assert.equal(reason(ok('github.com:22')), 'port_not_listed');
  assert.equal(reason(ok('api.github.com:443')), 'not_listed', 'an exact entry does not cover subdomains');
  assert.deepEqual([ok('build.corp.example.com:443').allowed, (ok('build.corp.example.com:443') as EgressGo).explicit], [true, false]);
  assert.equal(reason(ok('corp.example.com:443')), 'not_listed', 'a wildcard does not cover its apex');
  assert.equal(reason(ok('evilcorp.example.com:443')), 'not_listed');
  assert.equal(ok('pypi.org:8443').allowed, true);
  assert.equal(reason(ok('pypi.org:443')), 'port_not_listed');
  assert.equal(parseAuthority('xn--github-.com:443'), undefined, 'invalid punycode is not a host');
});

test('IP literals: public listed ones allowed; private/loopback/metadata only when listed exactly', () => {
  assert.equal(reason(planEgress(facts(), at('203.0.114.7:443'))), 'listed');
  assert.deepEqual((planEgress(facts(), at('203.0.114.7:443')) as EgressGo).addresses, ['203.0.114.7']);
  assert.equal(reason(planEgress(facts(), at('8.8.8.8:443'))), 'not_listed');
  assert.equal(reason(planEgress(facts({ mode: 'open', profileType: 'personal' }), at('127.0.0.1:443'))), 'forbidden_address');
  assert.equal(reason(planEgress(facts({ mode: 'open', profileType: 'personal' }), at('[::ffff:127.0.0.1]:443'))), 'forbidden_address');
  assert.equal(reason(planEgress(facts({ mode: 'open', profileType: 'personal' }), at('[fd00:ec2::254]:80'))), 'forbidden_address');
  assert.equal(reason(planEgress(facts({ allowlist: ['10.0.0.5:5432'] }), at('10.0.0.5:5432'))), 'listed', 'named exactly: allowed');
});

test('resolved addresses: every one must be public unless the host is listed exactly (no mixing in a private one)', () => {
  const wildcard = planEgress(facts(), at('build.corp.example.com:443')) as EgressGo;
  assert.equal(reason(checkResolved(wildcard, ['140.82.112.3'])), 'listed');
  assert.equal(reason(checkResolved(wildcard, ['140.82.112.3', '10.0.0.1'])), 'forbidden_address');
  assert.equal(reason(checkResolved(wildcard, ['::ffff:169.254.169.254'])), 'forbidden_address');
  assert.equal(reason(checkResolved(wildcard, [])), 'resolve_failed');
  const exact = planEgress(facts(), at('allowed.test:443')) as EgressGo;
  const resolved = checkResolved(exact, ['127.0.0.1']);
  assert.deepEqual([resolved.allowed, (resolved as EgressGo).addresses], [true, ['127.0.0.1']]);
});

test('an execution\'s narrower list: a target must match both lists', () => {
  const f = facts({ narrowed: ['github.com'] });
  assert.equal(planEgress(f, at('github.com:443')).allowed, true);
  assert.equal(reason(planEgress(f, at('pypi.org:8443'))), 'not_listed');
  assert.equal(reason(planEgress(facts({ narrowed: ['evil.example'] }), at('evil.example:443'))), 'not_listed', 'the narrower list cannot add hosts');
});

test('allowlistCovers: same host, or under a wildcard; the same port, or 80 and 443 for an entry without one; IP literals only by themselves', () => {
  const list = ['github.com', '*.pypi.org', 'registry.corp.example:5000', '10.0.0.8:8080'];
  for (const e of ['github.com', 'github.com:443', 'GitHub.com:80', 'files.pypi.org', 'a.b.pypi.org:443', '*.cdn.pypi.org', '*.pypi.org', 'registry.corp.example:5000', '10.0.0.8:8080']) assert.equal(allowlistCovers(list, e), true, e);
  for (const e of ['evil.example', 'github.com:22', 'api.github.com', 'pypi.org', '*.org', 'registry.corp.example', 'registry.corp.example:443', '10.0.0.8', '10.0.0.9:8080', 'not a host']) assert.equal(allowlistCovers(list, e), false, e);
  assert.equal(allowlistCovers(['github.com:443'], 'github.com'), false, 'an entry without a port means 80 too');
  assert.equal(allowlistCovers(['github.com:443', 'github.com:80'], 'github.com'), true);
  assert.equal(allowlistCovers([], 'github.com'), false);
});
