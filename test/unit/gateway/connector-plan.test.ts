import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectorRouteOf, EndpointCache, parseConnectorEndpoint, planConnectorCall, unsafePathReason, type Connector } from '../../../src/gateway/connector-plan.ts';

const http: Connector = { endpoint: 'https://api.example.com/base/', protocol: 'http', credentialsSecretRef: { name: 's', key: 'k' }, methods: ['GET', 'POST'], paths: ['/repos/*/issues', '/search/**'] };
const mcp: Connector = { endpoint: 'http://127.0.0.1:3001/mcp', protocol: 'mcp' };

test('the longest of the execution tools with a connector names the route, at a segment boundary', () => {
  const tools = ['gh', 'gh/repos', 'ghx', 'nocon'];
  const has = (t: string) => t !== 'nocon';
  assert.deepEqual(connectorRouteOf('/v1/tools/gh/repos/a', tools, has), { tool: 'gh/repos', rest: '/a' });
  assert.deepEqual(connectorRouteOf('/v1/tools/gh/other', tools, has), { tool: 'gh', rest: '/other' });
  assert.deepEqual(connectorRouteOf('/v1/tools/ghx', tools, has), { tool: 'ghx', rest: '' });
  assert.equal(connectorRouteOf('/v1/tools/ghy/a', tools, has), undefined);
  assert.equal(connectorRouteOf('/v1/tools/nocon/a', tools, has), undefined, 'a tool without a connector is not routed');
  assert.equal(connectorRouteOf('/v1/models', tools, has), undefined);
});

test('paths that could step around the patterns are unsafe', () => {
  for (const p of ['/a/../b', '/a/%2E%2e/b', '/./a', '/a%2Fb', '/a%5cb', '/a//b', '/%00', '/%zz', 'a']) assert.ok(unsafePathReason(p), p);
  for (const p of ['', '/', '/repos/a%20b/issues', '/a.b/c..d']) assert.equal(unsafePathReason(p), undefined, p);
});

test('the fast path (no %, ., \\ or control character) answers as the segment-by-segment check does', () => {
  // The check as it was before its fast path, segment by segment.
  const reference = (rest: string): boolean => {
    if (rest === '') return true;
    if (!rest.startsWith('/') || rest.includes('//')) return false;
    for (const segment of rest.slice(1).split('/')) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        return false;
      }
      if (decoded === '.' || decoded === '..' || decoded.includes('/') || decoded.includes('\\') || /[\u0000-\u001f\u007f]/.test(decoded)) return false;
    }
    return true;
  };
  const pieces = ['/', 'a', 'repos', '.', '..', '%2e', '%2F', '%5C', '%41', '%', '%zz', '\\', '\u0001', '\u007f', '-', '~', ' ', 'é'];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  let refused = 0;
  for (let i = 0; i < 5000; i++) {
    let rest = '/';
    for (let n = next() % 6; n >= 0; n--) rest += pieces[next() % pieces.length];
    const safe = unsafePathReason(rest) === undefined;
    assert.equal(safe, reference(rest), JSON.stringify(rest));
    if (!safe) refused++;
  }
  assert.ok(refused > 100 && refused < 4900, 'both outcomes are exercised');
});

test('a connector endpoint is parsed once per text; one that is no http(s) URL without credentials is refused as misconfigured', () => {
  assert.deepEqual(parseConnectorEndpoint('https://api.example.com/base//'), { origin: 'https://api.example.com', base: '/base' });
  assert.deepEqual(parseConnectorEndpoint('http://127.0.0.1:3001'), { origin: 'http://127.0.0.1:3001', base: '' });
  for (const bad of ['not a url', 'ftp://h/x', 'https://u:p@h/x']) assert.equal(parseConnectorEndpoint(bad), undefined, bad);
  const cache = new EndpointCache(2);
  const first = cache.parse(http.endpoint);
  assert.equal(cache.parse(http.endpoint), first, 'remembered');
  const seen: string[] = [];
  const counting = (e: string) => (seen.push(e), cache.parse(e));
  const p = planConnectorCall({ method: 'GET', rest: '/repos/a/issues', query: '?q=1', headers: {}, connector: http, endpoint: counting });
  assert.ok(p.ok && p.plan.origin === 'https://api.example.com' && p.plan.path === '/base/repos/a/issues?q=1');
  assert.deepEqual(seen, [http.endpoint]);
  const bad = planConnectorCall({ method: 'GET', rest: '/x', query: '', headers: {}, connector: { endpoint: 'https://u:p@h', protocol: 'http' }, endpoint: cache.parse });
  assert.deepEqual(!bad.ok && [bad.refusal.status, bad.refusal.code], [502, 'connector_misconfigured']);
});

test('http: method and path within the connector; the upstream URL keeps the endpoint path and the query; action is the method', () => {
  const ok = planConnectorCall({ method: 'get', rest: '/repos/acme/issues', query: '?state=open', headers: { host: 'gw', authorization: 'Bearer amx_x', 'proxy-authorization': 'Basic x', 'x-api-key': 'amx_x', connection: 'keep-alive, x-hop', 'x-hop': '1', accept: 'application/json' }, connector: http, credential: 'SECRET' });
  assert.ok(ok.ok);
  assert.deepEqual(ok.plan, { origin: 'https://api.example.com', path: '/base/repos/acme/issues?state=open', method: 'GET', action: 'GET', hasBody: false, headers: { accept: 'application/json', 'accept-encoding': 'identity', authorization: 'Bearer SECRET' } });
  const deep = planConnectorCall({ method: 'POST', rest: '/search/code/x', query: '', headers: { 'content-length': '2' }, connector: http });
  assert.ok(deep.ok && deep.plan.hasBody && deep.plan.headers.authorization === undefined);
  const del = planConnectorCall({ method: 'DELETE', rest: '/repos/a/issues', query: '', headers: {}, connector: http });
  assert.deepEqual(!del.ok && [del.refusal.status, del.refusal.code], [403, 'connector_method_denied']);
  const off = planConnectorCall({ method: 'GET', rest: '/repos/a/b/issues', query: '', headers: {}, connector: http });
  assert.deepEqual(!off.ok && [off.refusal.status, off.refusal.code], [403, 'connector_path_denied']);
  const dflt = planConnectorCall({ method: 'POST', rest: '/x', query: '', headers: {}, connector: { endpoint: 'https://h', protocol: 'http' } });
  assert.deepEqual(!dflt.ok && dflt.refusal.code, 'connector_method_denied', 'without methods only GET and HEAD');
});

test('the credential is presented in the header and format the connector names, replacing what the agent sent there', () => {
  const c: Connector = { ...http, present: { header: 'PRIVATE-TOKEN', format: 'tok {value} {value}' } };
  const p = planConnectorCall({ method: 'GET', rest: '/repos/a/issues', query: '', headers: { 'private-token': 'agent-guess' }, connector: c, credential: 'S' });
  assert.ok(p.ok);
  assert.equal(p.plan.headers['private-token'], 'tok S S');
});

test('mcp: POST, GET and DELETE on the endpoint itself', () => {
  const post = planConnectorCall({ method: 'POST', rest: '', query: '', headers: { 'content-length': '10', 'mcp-session-id': 'abc' }, connector: mcp });
  assert.ok(post.ok);
  assert.deepEqual([post.plan.path, post.plan.headers['mcp-session-id'], post.plan.action], ['/mcp', 'abc', undefined]);
  const put = planConnectorCall({ method: 'PUT', rest: '', query: '', headers: {}, connector: mcp });
  assert.equal(!put.ok && put.refusal.status, 405);
  const sub = planConnectorCall({ method: 'POST', rest: '/other', query: '', headers: {}, connector: mcp });
  assert.equal(!sub.ok && sub.refusal.status, 404);
});
