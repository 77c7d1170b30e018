import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseImageRef, registryAllowed } from '../../../src/governance/image-ref.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

test('image references resolve to the registry a runtime would pull from', () => {
  const cases: [string, string, string][] = [
    ['alpine', 'docker.io', 'docker.io/library/alpine'],
    ['alpine:3.20', 'docker.io', 'docker.io/library/alpine:3.20'],
    ['acme/agent', 'docker.io', 'docker.io/acme/agent'],
    ['ghcr.io/acme/agent:1.2', 'ghcr.io', 'ghcr.io/acme/agent:1.2'],
    ['localhost/agent', 'localhost', 'localhost/agent'],
    ['localhost:5000/agent:dev', 'localhost:5000', 'localhost:5000/agent:dev'],
    ['registry.corp.example:8443/ml/agent', 'registry.corp.example:8443', 'registry.corp.example:8443/ml/agent'],
    [`quay.io/acme/agent@${DIGEST}`, 'quay.io', `quay.io/acme/agent@${DIGEST}`],
  ];
  for (const [image, registry, normalized] of cases) {
    const ref = parseImageRef(image);
    assert.equal(ref?.registry, registry, image);
    assert.equal(ref?.normalized, normalized, image);
  }
  assert.equal(parseImageRef(`ghcr.io/a/b:1@${DIGEST}`)?.digest, DIGEST);
  assert.equal(parseImageRef('ghcr.io/a/b:1')?.digest, undefined);
});

test('malformed image references do not parse', () => {
  for (const image of ['', 'Alpine', 'ghcr.io/', 'a b', 'ghcr.io/a@sha256:short', 'ghcr.io/a:bad tag', 'ghcr.io//a']) {
    assert.equal(parseImageRef(image), undefined, image);
  }
});

test('registry allowlist entries match whole registries or whole path prefixes', () => {
  const ref = (image: string) => parseImageRef(image)!;
  assert.equal(registryAllowed(ref('ghcr.io/acme/agent'), ['ghcr.io']), 'ghcr.io');
  assert.equal(registryAllowed(ref('ghcr.io/acme/agent'), ['ghcr.io/acme']), 'ghcr.io/acme');
  assert.equal(registryAllowed(ref('ghcr.io/acmecorp/agent'), ['ghcr.io/acme']), undefined);
  assert.equal(registryAllowed(ref('alpine'), ['docker.io/library']), 'docker.io/library');
  assert.equal(registryAllowed(ref('evil.io/ghcr.io/x'), ['ghcr.io']), undefined);
  assert.equal(registryAllowed(ref('localhost:5000/x'), ['localhost']), undefined);
});
