import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_CONFIG, OciRegistry, RegistryError, sha256Digest } from '../../../src/outputs/oci-registry.ts';
import { createServer } from 'node:http';

test('the empty config descriptor is the digest and size of the two bytes {}', () => {
  assert.equal(EMPTY_CONFIG.digest, sha256Digest('{}'));
  assert.equal(EMPTY_CONFIG.size, Buffer.byteLength('{}'));
});

test('credentials in the registry URL never show in its messages; they go in the Basic header', async () => {
  const r = new OciRegistry({ url: 'http://robot:s3cret-pass@127.0.0.1:9/', timeoutMs: 1_000 });
  assert.equal(r.host, '127.0.0.1:9');
  await assert.rejects(r.pushBlob('agent-machine/x', Buffer.from('x'), 'text/plain'), (err: unknown) => {
    const m = (err as Error).message;
    return /did not answer HEAD/.test(m) && !m.includes('s3cret') && !m.includes('robot');
  });
});

test('the Basic header is what the registry sees; its own errors (the listing calls retention uses) name codes, never the credentials', async () => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'boom' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    for (const client of [new OciRegistry({ url: `http://pusher:s3cret-pw@127.0.0.1:${port}` }), new OciRegistry({ url: `http://127.0.0.1:${port}`, username: 'pusher', password: 's3cret-pw' })]) {
      const err = await client.tags('agent-machine/ns/r').catch((e: unknown) => e);
      assert.ok(err instanceof RegistryError);
      assert.match(err.message, /500 \(UNKNOWN\)/);
      assert.doesNotMatch(err.message, /s3cret|pusher/);
      assert.equal(client.host, `127.0.0.1:${port}`);
    }
    assert.deepEqual(seen, [`Basic ${Buffer.from('pusher:s3cret-pw').toString('base64')}`, `Basic ${Buffer.from('pusher:s3cret-pw').toString('base64')}`]);
    const down = await new OciRegistry({ url: 'http://pusher:s3cret-pw@127.0.0.1:1' }).repositories().catch((e: unknown) => e);
    assert.ok(down instanceof RegistryError);
    assert.doesNotMatch(down.message, /s3cret/);
  } finally {
    server.close();
  }
});
