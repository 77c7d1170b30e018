import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostAllowed, isClusterLocalHost, isLoopbackHost, isMetadataOrLinkLocalHost, parseEndpoint, type ParsedEndpoint } from '../../../src/governance/endpoints.ts';

test('endpoints: http(s) only, no credentials in the URL', () => {
  assert.ok(!('error' in parseEndpoint('https://api.example.com/v1')));
  assert.match((parseEndpoint('ftp://x') as { error: string }).error, /scheme ftp:/);
  assert.match((parseEndpoint('https://user:sk-secret@api.example.com') as { error: string }).error, /credentials/);
  const notUrl = parseEndpoint('sk-secret-token not a url') as { error: string };
  assert.equal(notUrl.error, 'endpoint is not a valid URL');
});

test('link-local and cloud metadata hosts, in every spelling WHATWG URL canonicalises', () => {
  const host = (url: string) => (parseEndpoint(url) as ParsedEndpoint).hostname;
  for (const url of ['http://169.254.169.254/v1', 'http://0xa9.0xfe.0xa9.0xfe', 'http://2852039166', 'http://169.254.1.1:8080', 'http://[fe80::1]', 'http://[FEBF::1]', 'http://[::ffff:169.254.169.254]', 'http://[fd00:ec2::254]', 'http://metadata.google.internal', 'http://METADATA', 'http://metadata.google.internal.', 'http://100.100.100.200', 'http://instance-data.ec2.internal']) {
    assert.ok(isMetadataOrLinkLocalHost(host(url)), url);
  }
  for (const url of ['http://127.0.0.1:11434', 'http://10.0.0.1', 'http://[fec0::1]', 'http://api.openai.com', 'http://metadata.example.com', 'http://169.255.0.1', 'http://vllm.models.svc']) {
    assert.ok(!isMetadataOrLinkLocalHost(host(url)), url);
  }
});

test('loopback and cluster-local hosts', () => {
  const host = (url: string) => (parseEndpoint(url) as ParsedEndpoint).hostname;
  assert.ok(isLoopbackHost(host('http://127.0.0.1:8080')));
  assert.ok(isLoopbackHost(host('http://127.1:8080')), 'WHATWG URL canonicalises 127.1');
  assert.ok(isLoopbackHost(host('http://[::1]:8080')));
  assert.ok(isLoopbackHost(host('http://LOCALHOST:11434')));
  assert.ok(!isLoopbackHost(host('http://10.0.0.1')));
  assert.ok(!isLoopbackHost(host('http://localhost.attacker.com')));
  assert.ok(isClusterLocalHost('vllm.models.svc'));
  assert.ok(isClusterLocalHost('vllm.models.svc.cluster.local'));
  assert.ok(!isClusterLocalHost('svc'));
  assert.ok(!isClusterLocalHost('vllm.models.svc.cluster.local.attacker.com'));
  assert.ok(!isClusterLocalHost('svc.cluster.local'));
});

test('host allowlist: exact hosts, *.domain wildcards and ports', () => {
  const at = (url: string) => parseEndpoint(url) as ParsedEndpoint;
  assert.equal(hostAllowed(at('https://api.openai.com/v1'), ['api.openai.com']), 'api.openai.com');
  assert.equal(hostAllowed(at('https://x.openai.azure.com'), ['*.openai.azure.com']), '*.openai.azure.com');
  assert.equal(hostAllowed(at('https://openai.azure.com'), ['*.openai.azure.com']), undefined, 'wildcard needs a subdomain');
  assert.equal(hostAllowed(at('https://evilopenai.azure.com'), ['*.openai.azure.com']), undefined);
  assert.equal(hostAllowed(at('https://llm.corp.example:8443'), ['llm.corp.example:8443']), 'llm.corp.example:8443');
  assert.equal(hostAllowed(at('https://llm.corp.example'), ['llm.corp.example:8443']), undefined, '443 is not 8443');
  assert.equal(hostAllowed(at('https://llm.corp.example'), ['llm.corp.example:443']), 'llm.corp.example:443', 'default port counts');
});
