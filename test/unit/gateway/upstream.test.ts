import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { UpstreamClient, upstreamErrorCode } from '../../../src/gateway/upstream.ts';

test('calls go to the endpoint path under /v1, reusing their keep-alive connections', async () => {
  const sockets = new Set<unknown>();
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    sockets.add(req.socket);
    seen.push(`${req.method} ${req.url} ${req.headers['content-length']}`);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new UpstreamClient({ idleTimeoutMs: 5_000 });
  try {
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/base/v1`;
    for (let i = 0; i < 20; i++) {
      const r = await client.request({ endpoint, path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(await r.body.json(), { ok: true });
    }
    assert.deepEqual(seen, Array(20).fill('POST /base/v1/chat/completions 2'));
    // The pool may open a second connection while the first is being handed back; never one per call.
    assert.ok(sockets.size <= 2, `${sockets.size} connections for 20 sequential calls`);
  } finally {
    await client.close();
    server.close();
  }
});

test('failures are reported by their code; timeouts as ETIMEDOUT', async () => {
  const client = new UpstreamClient({ idleTimeoutMs: 5_000 });
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  try {
    const err = await client.request({ endpoint: `http://127.0.0.1:${port}`, path: '/v1/models', method: 'GET', headers: {} }).then(() => undefined, (e: unknown) => e);
    assert.equal(upstreamErrorCode(err), 'ECONNREFUSED');
  } finally {
    await client.close();
  }
  assert.equal(upstreamErrorCode(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), 'ETIMEDOUT');
  assert.equal(upstreamErrorCode(new Error('no code')), 'error');
});
