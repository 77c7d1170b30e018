// Agent outputs as OCI artifacts against the real CNCF distribution registry (Debian's
// docker-registry, installed by scripts/ensure-registry.sh): pushed content-addressed, pulled
// back byte for byte with digests verified, refused when anything does not match.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRegistryService, type RegistryService } from '../../src/dev/registry-service.ts';
import { EMPTY_CONFIG, OCI_MANIFEST, OUTPUT_ARTIFACT_TYPE, OciRegistry, RegistryError, sha256Digest } from '../../src/outputs/oci-registry.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dataDir = mkdtempSync(path.join(tmpdir(), 'am-registry-'));
let registry: RegistryService;
let client: OciRegistry;

before(async () => {
  const bin = execFileSync('bash', [path.join(root, 'scripts/ensure-registry.sh')], { encoding: 'utf8' }).trim();
  registry = await startRegistryService({ binPath: bin, dataDir });
  client = new OciRegistry({ url: registry.url });
});

after(async () => {
  await registry?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('outputs pushed as one OCI artifact come back byte for byte, every digest verified', async (t) => {
  const big = randomBytes(1024 * 1024);
  const report = Buffer.from('{"issues": 3}\n');
  const started = performance.now();
  const pushed = await client.pushArtifact('agent-machine/ns/exec-1', 'attempt-0', [
    { name: 'report.json', mediaType: 'application/json', data: report },
    { name: 'out.bin', mediaType: 'application/octet-stream', data: big },
  ], { 'agentmachine.sourceos.dev/execution': 'ns/exec-1' });
  t.diagnostic(`pushed 1 MiB + ${report.length} B in ${(performance.now() - started).toFixed(0)} ms to ${registry.host} (registry up in ${registry.startupMs} ms)`);
  assert.match(pushed.reference, new RegExp(`^${registry.host.replace(/\./g, '\\.')}/agent-machine/ns/exec-1@sha256:[0-9a-f]{64}$`));

  // By digest and by tag: the same manifest, of our artifact type, with the empty config.
  const byDigest = await client.pullManifest('agent-machine/ns/exec-1', pushed.digest);
  const byTag = await client.pullManifest('agent-machine/ns/exec-1', 'attempt-0');
  assert.equal(byTag.digest, pushed.digest);
  assert.equal(byDigest.manifest.mediaType, OCI_MANIFEST);
  assert.equal(byDigest.manifest.artifactType, OUTPUT_ARTIFACT_TYPE);
  assert.deepEqual(byDigest.manifest.config, EMPTY_CONFIG);
  assert.deepEqual(byDigest.manifest.layers.map((l) => [l.annotations?.['org.opencontainers.image.title'], l.digest, l.size]), [
    ['report.json', sha256Digest(report), report.length],
    ['out.bin', sha256Digest(big), big.length],
  ]);
  const [r, b] = await Promise.all(byDigest.manifest.layers.map((l) => client.pullBlob('agent-machine/ns/exec-1', l)));
  assert.ok(r!.equals(report) && b!.equals(big), 'restored byte for byte');

  // Content-addressed: the same bytes again are the same manifest; the registry already had the blobs.
  const again = await client.pushArtifact('agent-machine/ns/exec-1', 'attempt-0', [
    { name: 'report.json', mediaType: 'application/json', data: report },
    { name: 'out.bin', mediaType: 'application/octet-stream', data: big },
  ], { 'agentmachine.sourceos.dev/execution': 'ns/exec-1' });
  assert.equal(again.digest, pushed.digest);
});

test('anything that does not match is refused: a wrong size or digest, a manifest under another digest, bad names', async () => {
  const data = Buffer.from('hello');
  const d = await client.pushBlob('agent-machine/ns/check', data, 'text/plain');
  assert.ok((await client.pullBlob('agent-machine/ns/check', d)).equals(data));
  await assert.rejects(client.pullBlob('agent-machine/ns/check', { ...d, size: 6 }), (err: unknown) => err instanceof RegistryError && /expected 6/.test(err.message));
  await assert.rejects(client.pullBlob('agent-machine/ns/check', { ...d, digest: sha256Digest('other') }), (err: unknown) => err instanceof RegistryError && /404/.test(err.message));
  const pushed = await client.pushArtifact('agent-machine/ns/check', 'v1', [{ name: 'a.txt', mediaType: 'text/plain', data }]);
  await assert.rejects(client.pullManifest('agent-machine/ns/check', sha256Digest('not the manifest')), RegistryError);
  assert.equal((await client.pullManifest('agent-machine/ns/check', pushed.digest)).digest, pushed.digest);
  await assert.rejects(client.pushBlob('Agent Machine/../x', data, 'text/plain'), /not a valid repository name/);
  await assert.rejects(client.pushArtifact('agent-machine/ns/check', 'bad tag!', []), /not a valid tag/);
});

test('a registry that does not answer is a RegistryError naming it, not a crash', async () => {
  const down = new OciRegistry({ url: 'http://127.0.0.1:9', timeoutMs: 2_000 });
  await assert.rejects(down.pushBlob('agent-machine/x', Buffer.from('x'), 'text/plain'), (err: unknown) => err instanceof RegistryError && /did not answer HEAD/.test(err.message));
});

test('the catalog, a repository\'s tags and a manifest DELETE (what retention uses); a deleted manifest is gone, its tag with it', async () => {
  const repo = 'agent-machine/ns/retained';
  const a = await client.pushArtifact(repo, 'keep', [{ name: 'a', mediaType: 'application/octet-stream', data: randomBytes(64) }]);
  const b = await client.pushArtifact(repo, 'drop', [{ name: 'b', mediaType: 'application/octet-stream', data: randomBytes(64) }]);
  assert.ok((await client.repositories()).includes(repo));
  assert.deepEqual((await client.tags(repo)).sort(), ['drop', 'keep']);
  await client.deleteManifest(repo, b.digest);
  await assert.rejects(client.pullManifest(repo, b.digest), (err: unknown) => err instanceof RegistryError && err.status === 404);
  assert.equal((await client.pullManifest(repo, 'keep')).digest, a.digest);
  await client.deleteManifest(repo, b.digest); // again: already gone is not an error
  assert.deepEqual(await client.tags('agent-machine/ns/never-pushed'), []);
});
