import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMachineProfileSpec, PolicyGate, ProfileType } from '../../../src/api/types.generated.ts';
import { allAllowed, auditedDecisions, CREDENTIAL_MOUNT, MAX_AUDITED_DECISIONS } from '../../../src/governance/decision.ts';
import { BUILTIN_RULES, containerNetworkMode, describeProfileRules, effectiveNetworkMode, evaluateBuiltinRules, PROFILE_TYPES } from '../../../src/governance/profile-rules.ts';
import type { PolicyRequest } from '../../../src/governance/requests.ts';
import { profile } from './fixtures.ts';

const DIGEST = `sha256:${'b'.repeat(64)}`;
const GATES: PolicyGate[] = ['containerExecution', 'networkProfile', 'modelProviderUse', 'toolGrant', 'artifactAccess'];

// Profiles as an operator would write them for each type.
const SPECS: Record<ProfileType, Partial<AgentMachineProfileSpec>> = {
  personal: {},
  corporate_firewall: {
    images: { allowedRegistries: ['ghcr.io/acme', 'registry.corp.example'] },
    modelProviders: { allowedHosts: ['*.openai.azure.com', 'llm.corp.example:8443'] },
  },
  multi_corporate_firewall: {
    tenants: ['acme', 'globex'],
    images: { allowedRegistries: ['registry.corp.example'] },
    modelProviders: { allowedHosts: ['llm.corp.example'] },
  },
  local_model_provider: {},
  hosted_model_provider: {},
  airgapped_local_only: { network: { mode: 'none' } },
  user_owned_model: {},
};

const model = (over: Partial<Extract<PolicyRequest, { gate: 'modelProviderUse' }>> = {}): PolicyRequest => ({
  gate: 'modelProviderUse',
  endpoint: 'https://api.example.com/v1',
  provider: 'openai-compatible',
  hasCredential: true,
  owner: 'alice',
  delegator: 'alice',
  ...over,
});

type Case = {
  type: ProfileType;
  title: string;
  request: PolicyRequest;
  spec?: Partial<AgentMachineProfileSpec>;
  /** undefined: everything allows; otherwise the rule expected to deny. */
  denies?: string;
  /** A rule that must have been evaluated (so an allow is not an allow by omission). */
  checks?: string;
};

const CASES: Case[] = [
  // personal
  { type: 'personal', title: 'any registry', request: { gate: 'containerExecution', image: 'alpine:3' } },
  { type: 'personal', title: 'image reference that does not parse', request: { gate: 'containerExecution', image: 'Not An Image!' }, denies: 'builtin.images.reference' },
  { type: 'personal', title: 'malformed image', request: { gate: 'containerExecution', image: 'Alpine Linux' }, denies: 'builtin.images.reference' },
  { type: 'personal', title: 'open network', request: { gate: 'networkProfile', requestedMode: 'open' }, checks: 'builtin.network.open-personal-only' },
  { type: 'personal', title: 'open asked under mode none', spec: { network: { mode: 'none' } }, request: { gate: 'networkProfile', requestedMode: 'open' }, denies: 'builtin.network.requested-within-profile' },
  { type: 'personal', title: 'hosted endpoint', request: model() },
  { type: 'personal', title: 'unparseable endpoint', request: model({ endpoint: 'not a url' }), denies: 'builtin.model.endpoint-url' },
  { type: 'personal', title: 'valid tool', request: { gate: 'toolGrant', tool: 'web.search' } },
  { type: 'personal', title: 'invalid tool name', request: { gate: 'toolGrant', tool: 'Web Search' }, denies: 'builtin.tool.name' },
  { type: 'personal', title: 'project folder, any output', request: { gate: 'artifactAccess', hostPath: '/home/alice/project', outputs: ['/tmp/out'] } },
  { type: 'personal', title: 'symlinked folder resolving to a project folder', request: { gate: 'artifactAccess', hostPath: '/tmp/link', resolvedHostPath: '/srv/project' } },
  { type: 'personal', title: 'symlink resolving to /etc', request: { gate: 'artifactAccess', hostPath: '/tmp/link', resolvedHostPath: '/etc' }, denies: 'builtin.artifacts.host-path' },
  { type: 'personal', title: "symlink resolving to the engine's socket folder", request: { gate: 'artifactAccess', hostPath: '/srv/x', resolvedHostPath: '/run/podman' }, denies: 'builtin.artifacts.host-path' },
  { type: 'personal', title: 'symlink resolving to the host root', request: { gate: 'artifactAccess', hostPath: '/srv/x', resolvedHostPath: '/' }, denies: 'builtin.artifacts.host-path' },
  { type: 'personal', title: 'workspace mounted over /proc', request: { gate: 'artifactAccess', hostPath: '/srv/project', mountPath: '/proc' }, denies: 'builtin.artifacts.mount-targets' },
  { type: 'personal', title: 'output over /dev/shm', request: { gate: 'artifactAccess', outputs: ['/dev/shm'] }, denies: 'builtin.artifacts.mount-targets' },
  { type: 'personal', title: 'workspace mounted at /', request: { gate: 'artifactAccess', hostPath: '/srv/project', mountPath: '/' }, denies: 'builtin.artifacts.mount-targets' },
  { type: 'personal', title: 'output where the workspace is mounted', request: { gate: 'artifactAccess', hostPath: '/srv/project', mountPath: '/work', outputs: ['/work'] }, denies: 'builtin.artifacts.mount-targets' },
  { type: 'personal', title: 'workspace and outputs side by side', request: { gate: 'artifactAccess', hostPath: '/srv/project', mountPath: '/work', outputs: ['/work/out', '/tmp/x', '/procfs'] }, checks: 'builtin.artifacts.mount-targets' },
  { type: 'personal', title: 'host path that does not resolve', request: { gate: 'artifactAccess', hostPath: '/srv/gone', hostPathError: 'it does not exist on this host' }, denies: 'builtin.artifacts.host-path' },
  { type: 'personal', title: 'whole home', request: { gate: 'artifactAccess', hostPath: '/home/alice' }, denies: 'builtin.artifacts.host-path' },
  { type: 'personal', title: "a user's ~/.ssh", request: { gate: 'artifactAccess', hostPath: '/home/alice/.ssh' }, denies: 'builtin.artifacts.credential-stores' },
  { type: 'personal', title: "root's ~/.kube (a cluster admin's kubeconfig)", request: { gate: 'artifactAccess', hostPath: '/root/.kube' }, denies: 'builtin.artifacts.credential-stores' },
  { type: 'personal', title: 'a file inside ~/.aws', request: { gate: 'artifactAccess', hostPath: '/home/alice/.aws/credentials' }, denies: 'builtin.artifacts.credential-stores' },
  { type: 'personal', title: 'a folder holding a store (~/.config holds gcloud)', request: { gate: 'artifactAccess', hostPath: '/home/alice/.config' }, denies: 'builtin.artifacts.credential-stores' },
  { type: 'personal', title: 'project folder symlinked to ~/.ssh', request: { gate: 'artifactAccess', hostPath: '/home/alice/proj/keys', resolvedHostPath: '/home/alice/.ssh' }, denies: 'builtin.artifacts.credential-stores' },
  { type: 'personal', title: 'the cluster database', request: { gate: 'artifactAccess', hostPath: '/var/lib/etcd' }, denies: 'builtin.artifacts.host-path' },
  { type: 'personal', title: 'a store the profile names in credentialMounts', spec: { credentialMounts: ['/home/alice/.ssh'] }, request: { gate: 'artifactAccess', hostPath: '/home/alice/.ssh' }, checks: 'builtin.artifacts.credential-stores' },
  { type: 'personal', title: 'credentialMounts names ~/.ssh, not ~/.aws', spec: { credentialMounts: ['/home/alice/.ssh'] }, request: { gate: 'artifactAccess', hostPath: '/home/alice/.aws' }, denies: 'builtin.artifacts.credential-stores' },

  // corporate_firewall
  { type: 'corporate_firewall', title: 'allowlisted registry', request: { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1' }, checks: 'builtin.images.registry-allowlist' },
  { type: 'corporate_firewall', title: 'other registry', request: { gate: 'containerExecution', image: 'alpine:3' }, denies: 'builtin.images.registry-allowlist' },
  { type: 'corporate_firewall', title: 'a Secret in the environment', request: { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1', envNames: ['GITHUB_TOKEN'], secretEnvNames: ['GITHUB_TOKEN'] }, denies: 'builtin.credentials.secret-env' },
  { type: 'corporate_firewall', title: 'a Secret the profile names in secretEnv', spec: { secretEnv: ['LICENSE_KEY'] }, request: { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1', secretEnvNames: ['LICENSE_KEY'] }, checks: 'builtin.credentials.secret-env' },
  { type: 'multi_corporate_firewall', title: 'a Secret in the environment', request: { gate: 'containerExecution', image: 'registry.corp.example/a:1', tenant: 'acme', secretEnvNames: ['TOKEN'] }, denies: 'builtin.credentials.secret-env' },
  { type: 'hosted_model_provider', title: 'a Secret in the environment', request: { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1', secretEnvNames: ['TOKEN'] }, denies: 'builtin.credentials.secret-env' },
  { type: 'hosted_model_provider', title: 'plain env only', request: { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1', envNames: ['MODE'] }, checks: 'builtin.credentials.secret-env' },
  { type: 'personal', title: 'a Secret in the environment (personal: allowed)', request: { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1', secretEnvNames: ['TOKEN'] } },
  { type: 'corporate_firewall', title: 'no registry allowlist', spec: { images: {} }, request: { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1' }, denies: 'builtin.firewall.registry-allowlist-required' },
  { type: 'corporate_firewall', title: 'digest pinned', spec: { images: { allowedRegistries: ['ghcr.io'], requireDigest: true } }, request: { gate: 'containerExecution', image: `ghcr.io/acme/agent@${DIGEST}` }, checks: 'builtin.images.digest' },
  { type: 'corporate_firewall', title: 'tag only, digest required', spec: { images: { allowedRegistries: ['ghcr.io'], requireDigest: true } }, request: { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1' }, denies: 'builtin.images.digest' },
  { type: 'corporate_firewall', title: 'gateway-only default', request: { gate: 'networkProfile' }, checks: 'builtin.network.open-personal-only' },
  { type: 'corporate_firewall', title: 'a narrower execution allowlist', spec: { network: { mode: 'allowlist', egressAllowlist: ['*.github.com'] } }, request: { gate: 'networkProfile', requestedMode: 'allowlist', requestedAllowlist: ['api.github.com'] }, checks: 'builtin.network.allowlist-within-profile' },
  { type: 'corporate_firewall', title: 'an execution allowlist wider than the profile\'s', spec: { network: { mode: 'allowlist', egressAllowlist: ['*.github.com'] } }, request: { gate: 'networkProfile', requestedMode: 'allowlist', requestedAllowlist: ['evil.example'] }, denies: 'builtin.network.allowlist-within-profile' },
  { type: 'corporate_firewall', title: 'open network', spec: { network: { mode: 'open' } }, request: { gate: 'networkProfile' }, denies: 'builtin.network.open-personal-only' },
  { type: 'corporate_firewall', title: 'allowlisted model host', request: model({ endpoint: 'https://eu.openai.azure.com/openai' }), checks: 'builtin.firewall.model-host-allowlist' },
  { type: 'corporate_firewall', title: 'model host not allowlisted', request: model({ endpoint: 'https://api.openai.com/v1' }), denies: 'builtin.firewall.model-host-allowlist' },
  { type: 'corporate_firewall', title: 'valid tool', request: { gate: 'toolGrant', tool: 'mcp.github/create_issue' } },
  { type: 'corporate_firewall', title: 'invalid tool', request: { gate: 'toolGrant', tool: '' }, denies: 'builtin.tool.name' },
  { type: 'corporate_firewall', title: 'outputs under /workspace/out', request: { gate: 'artifactAccess', outputs: ['/workspace/out/report'] }, checks: 'builtin.firewall.output-paths' },
  { type: 'corporate_firewall', title: 'outputs outside', request: { gate: 'artifactAccess', outputs: ['/tmp/exfil'] }, denies: 'builtin.firewall.output-paths' },
  { type: 'corporate_firewall', title: 'promoting an output of an unlisted name', spec: { outputs: { allowedNames: ['report'] } }, request: { gate: 'artifactAccess', promotion: { name: 'dump', size: 1, contentTypes: [] } }, denies: 'builtin.outputs.names' },
  { type: 'corporate_firewall', title: 'promoting an output over outputs.maxBytes', spec: { outputs: { maxBytes: 100 } }, request: { gate: 'artifactAccess', promotion: { name: 'report', size: 101, contentTypes: [] } }, denies: 'builtin.outputs.size' },
  { type: 'corporate_firewall', title: 'promoting an executable output', spec: { outputs: { allowedMediaTypes: ['text/*'] } }, request: { gate: 'artifactAccess', promotion: { name: 'report', size: 1, contentTypes: ['application/x-executable'] } }, denies: 'builtin.outputs.media-types' },
  { type: 'corporate_firewall', title: 'promoting under requireReview', spec: { outputs: { requireReview: true } }, request: { gate: 'artifactAccess', promotion: { name: 'report', size: 1, contentTypes: ['text/plain'] } }, denies: 'builtin.outputs.review' },
  { type: 'corporate_firewall', title: 'promoting an allowed text output', spec: { outputs: { allowedNames: ['report'], maxBytes: 100, allowedMediaTypes: ['text/*'] } }, request: { gate: 'artifactAccess', promotion: { name: 'report', size: 100, contentTypes: ['text/plain'] } }, checks: 'builtin.outputs.media-types' },

  // multi_corporate_firewall
  { type: 'multi_corporate_firewall', title: 'listed tenant', request: { gate: 'containerExecution', image: 'registry.corp.example/agent:1', tenant: 'acme' }, checks: 'builtin.multi-tenant.execution-tenant' },
  { type: 'multi_corporate_firewall', title: 'no tenant', request: { gate: 'containerExecution', image: 'registry.corp.example/agent:1' }, denies: 'builtin.multi-tenant.execution-tenant' },
  { type: 'multi_corporate_firewall', title: 'unlisted tenant', request: { gate: 'containerExecution', image: 'registry.corp.example/agent:1', tenant: 'initech' }, denies: 'builtin.multi-tenant.execution-tenant' },
  { type: 'multi_corporate_firewall', title: 'allowlist egress', spec: { network: { mode: 'allowlist', egressAllowlist: ['pypi.org'] } }, request: { gate: 'networkProfile' }, checks: 'builtin.network.allowlist-nonempty' },
  { type: 'multi_corporate_firewall', title: 'allowlist mode without hosts', spec: { network: { mode: 'allowlist' } }, request: { gate: 'networkProfile' }, denies: 'builtin.network.allowlist-nonempty' },
  { type: 'multi_corporate_firewall', title: "own tenant's binding", request: model({ endpoint: 'https://llm.corp.example', bindingTenant: 'acme', tenant: 'acme' }), checks: 'builtin.multi-tenant.binding-tenant' },
  { type: 'multi_corporate_firewall', title: "another tenant's binding", request: model({ endpoint: 'https://llm.corp.example', bindingTenant: 'globex', tenant: 'acme' }), denies: 'builtin.multi-tenant.binding-tenant' },
  { type: 'multi_corporate_firewall', title: "own tenant's grant", request: { gate: 'toolGrant', tool: 'mcp.jira/create', grantTenant: 'acme', tenant: 'acme' }, checks: 'builtin.multi-tenant.grant-tenant' },
  { type: 'multi_corporate_firewall', title: "another tenant's grant", request: { gate: 'toolGrant', tool: 'mcp.jira/create', grantTenant: 'globex', tenant: 'acme' }, denies: 'builtin.multi-tenant.grant-tenant' },
  { type: 'multi_corporate_firewall', title: 'grant without tenant', request: { gate: 'toolGrant', tool: 'mcp.jira/create' }, denies: 'builtin.multi-tenant.grant-tenant' },
  { type: 'multi_corporate_firewall', title: 'outputs under /out', request: { gate: 'artifactAccess', hostPath: '/srv/acme/repo', outputs: ['/out'] }, checks: 'builtin.firewall.output-paths' },
  { type: 'multi_corporate_firewall', title: 'mount of /root', request: { gate: 'artifactAccess', hostPath: '/root' }, denies: 'builtin.artifacts.host-path' },

  // local_model_provider
  { type: 'local_model_provider', title: 'an image by tag', request: { gate: 'containerExecution', image: 'alpine' }, checks: 'builtin.images.reference' },
  { type: 'local_model_provider', title: 'image reference that does not parse', request: { gate: 'containerExecution', image: 'Not An Image!' }, denies: 'builtin.images.reference' },
  { type: 'local_model_provider', title: 'gateway-only default', request: { gate: 'networkProfile', requestedMode: 'none' }, checks: 'builtin.network.requested-within-profile' },
  { type: 'local_model_provider', title: 'asks for open', request: { gate: 'networkProfile', requestedMode: 'open' }, denies: 'builtin.network.requested-within-profile' },
  { type: 'local_model_provider', title: 'ollama on loopback', request: model({ endpoint: 'http://127.0.0.1:11434', hasCredential: false }), checks: 'builtin.local-provider.local-endpoint' },
  { type: 'local_model_provider', title: 'vLLM in cluster', request: model({ endpoint: 'http://vllm.models.svc.cluster.local:8000/v1' }), checks: 'builtin.local-provider.local-endpoint' },
  { type: 'local_model_provider', title: 'hosted endpoint', request: model(), denies: 'builtin.local-provider.local-endpoint' },
  { type: 'local_model_provider', title: 'valid tool', request: { gate: 'toolGrant', tool: 'fs.read' } },
  { type: 'local_model_provider', title: 'invalid tool', request: { gate: 'toolGrant', tool: '-bad-' }, denies: 'builtin.tool.name' },
  { type: 'local_model_provider', title: 'project folder', request: { gate: 'artifactAccess', hostPath: '/srv/models/project' } },
  { type: 'local_model_provider', title: '/proc', request: { gate: 'artifactAccess', hostPath: '/proc/self' }, denies: 'builtin.artifacts.host-path' },

  // hosted_model_provider
  { type: 'hosted_model_provider', title: 'an image by tag', request: { gate: 'containerExecution', image: 'ghcr.io/x/y' } },
  { type: 'hosted_model_provider', title: 'image reference that does not parse', request: { gate: 'containerExecution', image: 'ghcr.io/x/y:' }, denies: 'builtin.images.reference' },
  { type: 'hosted_model_provider', title: 'gateway-only', request: { gate: 'networkProfile' } },
  { type: 'hosted_model_provider', title: 'open network', spec: { network: { mode: 'open' } }, request: { gate: 'networkProfile' }, denies: 'builtin.network.open-personal-only' },
  { type: 'hosted_model_provider', title: 'with credential over https', request: model(), checks: 'builtin.hosted.credential' },
  { type: 'hosted_model_provider', title: 'without credential', request: model({ hasCredential: false }), denies: 'builtin.hosted.credential' },
  { type: 'hosted_model_provider', title: 'credential over plain http', request: model({ endpoint: 'http://api.example.com/v1' }), denies: 'builtin.model.credential-tls' },
  { type: 'hosted_model_provider', title: 'valid tool', request: { gate: 'toolGrant', tool: 'web.fetch' } },
  { type: 'hosted_model_provider', title: 'invalid tool', request: { gate: 'toolGrant', tool: 'web fetch' }, denies: 'builtin.tool.name' },
  { type: 'hosted_model_provider', title: 'no mount', request: { gate: 'artifactAccess' } },
  { type: 'hosted_model_provider', title: 'docker socket', request: { gate: 'artifactAccess', hostPath: '/var/run/docker.sock' }, denies: 'builtin.artifacts.host-path' },

  // airgapped_local_only
  { type: 'airgapped_local_only', title: 'local image', request: { gate: 'containerExecution', image: 'localhost/agent:dev' } },
  { type: 'airgapped_local_only', title: 'image reference that does not parse', request: { gate: 'containerExecution', image: 'localhost/Agent:dev' }, denies: 'builtin.images.reference' },
  { type: 'airgapped_local_only', title: 'no network', request: { gate: 'networkProfile' }, checks: 'builtin.airgapped.no-network' },
  { type: 'airgapped_local_only', title: 'gateway-only configured', spec: { network: { mode: 'gateway-only' } }, request: { gate: 'networkProfile' }, denies: 'builtin.airgapped.no-network' },
  { type: 'airgapped_local_only', title: 'loopback endpoint', request: model({ endpoint: 'http://localhost:8080/v1', hasCredential: false }), checks: 'builtin.airgapped.loopback-endpoint' },
  { type: 'airgapped_local_only', title: 'LAN endpoint', request: model({ endpoint: 'http://10.0.0.5:8080/v1', hasCredential: false }), denies: 'builtin.airgapped.loopback-endpoint' },
  { type: 'airgapped_local_only', title: 'filesystem tool', request: { gate: 'toolGrant', tool: 'fs.read' }, checks: 'builtin.airgapped.no-network-tools' },
  { type: 'airgapped_local_only', title: 'web tool', request: { gate: 'toolGrant', tool: 'web.search' }, denies: 'builtin.airgapped.no-network-tools' },
  { type: 'airgapped_local_only', title: 'browser tool', request: { gate: 'toolGrant', tool: 'browser.open' }, denies: 'builtin.airgapped.no-network-tools' },
  { type: 'airgapped_local_only', title: 'outputs under /out', request: { gate: 'artifactAccess', outputs: ['/out/a', '/workspace/out'] }, checks: 'builtin.airgapped.output-paths' },
  { type: 'airgapped_local_only', title: 'outputs elsewhere in the workspace', request: { gate: 'artifactAccess', outputs: ['/workspace/src'] }, denies: 'builtin.airgapped.output-paths' },

  // user_owned_model
  { type: 'user_owned_model', title: 'an image by tag', request: { gate: 'containerExecution', image: 'alpine' } },
  { type: 'user_owned_model', title: 'image reference that does not parse', request: { gate: 'containerExecution', image: '' }, denies: 'builtin.images.reference' },
  { type: 'user_owned_model', title: 'gateway-only', request: { gate: 'networkProfile', requestedMode: 'gateway-only' } },
  { type: 'user_owned_model', title: 'asks for allowlist', request: { gate: 'networkProfile', requestedMode: 'allowlist' }, denies: 'builtin.network.requested-within-profile' },
  { type: 'user_owned_model', title: "delegator's own model", request: model(), checks: 'builtin.user-owned.owner-is-delegator' },
  { type: 'user_owned_model', title: "someone else's model", request: model({ owner: 'bob' }), denies: 'builtin.user-owned.owner-is-delegator' },
  { type: 'user_owned_model', title: 'valid tool', request: { gate: 'toolGrant', tool: 'mcp.calendar/read' } },
  { type: 'user_owned_model', title: 'invalid tool', request: { gate: 'toolGrant', tool: 'x'.repeat(254) }, denies: 'builtin.tool.name' },
  { type: 'user_owned_model', title: 'project folder', request: { gate: 'artifactAccess', hostPath: '/Users/alice/code/app' } },
  { type: 'user_owned_model', title: 'output path /', request: { gate: 'artifactAccess', outputs: ['/'] }, denies: 'builtin.artifacts.output-paths' },
];

for (const c of CASES) {
  test(`${c.type} × ${c.request.gate}: ${c.title} → ${c.denies ? `denied by ${c.denies}` : 'allowed'}`, () => {
    const decisions = evaluateBuiltinRules(profile(c.type, { ...SPECS[c.type], ...c.spec }), c.request);
    assert.ok(decisions.length > 0, 'at least one rule is evaluated at every gate');
    assert.ok(decisions.every((d) => d.gate === c.request.gate));
    if (c.denies) {
      const denial = decisions.find((d) => d.rule === c.denies);
      assert.ok(denial, `expected a decision from ${c.denies}: ${JSON.stringify(decisions)}`);
      assert.equal(denial.allowed, false, denial.message);
      assert.ok(denial.message.length > 0);
    } else {
      assert.ok(allAllowed(decisions), JSON.stringify(decisions.filter((d) => !d.allowed)));
      if (c.checks) assert.ok(decisions.some((d) => d.rule === c.checks), `${c.checks} was not evaluated`);
    }
  });
}

test('the case table covers every profile type × gate with an allow and a deny', () => {
  for (const type of PROFILE_TYPES) {
    for (const gate of GATES) {
      const cases = CASES.filter((c) => c.type === type && c.request.gate === gate);
      assert.ok(cases.some((c) => !c.denies), `${type} × ${gate}: no allow case`);
      assert.ok(cases.some((c) => c.denies), `${type} × ${gate}: no deny case`);
    }
  }
});

test('every type-specific rule in the table is exercised by a deny case', () => {
  const denied = new Set(CASES.map((c) => c.denies));
  const untested = BUILTIN_RULES.map((r) => r.name).filter((name) => !denied.has(name));
  assert.deepEqual(untested, []);
});

test('the audit log keeps allows too; a credential mount the profile allows is marked and kept ahead of other allows', () => {
  const named = evaluateBuiltinRules(profile('personal', { credentialMounts: ['/home/alice/.ssh'] }), { gate: 'artifactAccess', hostPath: '/home/alice/.ssh/id_ed25519' });
  assert.ok(allAllowed(named));
  const kept = auditedDecisions(named);
  assert.deepEqual(
    kept.filter((d) => d.message.startsWith(CREDENTIAL_MOUNT)).map((d) => [d.rule, d.message]),
    [['builtin.artifacts.credential-stores', "credential mount: [/home/alice/.ssh] mounted read-only, named by the profile's spec.credentialMounts"]],
  );
  assert.ok(kept[0]!.message.startsWith(CREDENTIAL_MOUNT), 'first when the list is cut');
  const plain = evaluateBuiltinRules(profile('personal'), { gate: 'artifactAccess', hostPath: '/home/alice/project' });
  assert.ok(allAllowed(plain));
  assert.deepEqual(auditedDecisions(plain), plain.slice(0, MAX_AUDITED_DECISIONS), 'allowed decisions are audited too');
  assert.ok(auditedDecisions(plain).length > 0);
});

test('an unknown profile type denies every gate', () => {
  const bogus = profile('personal');
  (bogus.spec as { profileType: string }).profileType = 'yolo';
  for (const gate of GATES) {
    const decisions = evaluateBuiltinRules(bogus, { gate } as PolicyRequest);
    assert.equal(decisions.length, 1);
    assert.equal(decisions[0]?.rule, 'builtin.profile.type');
    assert.equal(decisions[0]?.allowed, false);
  }
});

test('malformed input denies instead of throwing', () => {
  const decisions = evaluateBuiltinRules(profile('airgapped_local_only'), { gate: 'toolGrant', tool: undefined } as unknown as PolicyRequest);
  assert.ok(decisions.some((d) => !d.allowed));
});

test('effective network mode: explicit, else the type default', () => {
  const expected: Record<ProfileType, string> = {
    personal: 'open',
    corporate_firewall: 'gateway-only',
    multi_corporate_firewall: 'gateway-only',
    local_model_provider: 'gateway-only',
    hosted_model_provider: 'gateway-only',
    airgapped_local_only: 'none',
    user_owned_model: 'gateway-only',
  };
  for (const type of PROFILE_TYPES) assert.equal(effectiveNetworkMode(profile(type)), expected[type], type);
  assert.equal(effectiveNetworkMode(profile('personal', { network: { mode: 'none' } })), 'none');
  const implied = profile('corporate_firewall', { network: { egressAllowlist: ['pypi.org'] } as AgentMachineProfileSpec['network'] });
  assert.equal(effectiveNetworkMode(implied), 'allowlist');
});

test('a container runs with the narrower of the mode asked for and the profile\'s', () => {
  const personal = profile('personal');
  assert.equal(containerNetworkMode(personal, undefined), 'open');
  assert.equal(containerNetworkMode(personal, 'none'), 'none');
  assert.equal(containerNetworkMode(personal, 'gateway-only'), 'gateway-only');
  assert.equal(containerNetworkMode(profile('corporate_firewall'), 'open'), 'gateway-only', 'a wider ask admitted by mistake still gets no more than the profile');
  assert.equal(containerNetworkMode(personal, 'everything'), 'none', 'an unknown mode is no network');
});

test('requested-within-profile: allowlist needs the profile\'s egressAllowlist', () => {
  const rule = 'builtin.network.requested-within-profile';
  const denied = (spec: Partial<AgentMachineProfileSpec>) => evaluateBuiltinRules(profile('personal', spec), { gate: 'networkProfile', requestedMode: 'allowlist' }).filter((d) => !d.allowed).map((d) => d.rule);
  assert.deepEqual(denied({}), [rule]);
  assert.deepEqual(denied({ network: { mode: 'open', egressAllowlist: ['pypi.org'] } }), []);
});

test("allowlist-within-profile: an execution's egressAllowlist only narrows the profile's, denied with the entries outside it", () => {
  const rule = 'builtin.network.allowlist-within-profile';
  const fw = profile('corporate_firewall', { network: { mode: 'allowlist', egressAllowlist: ['github.com', '*.pypi.org', 'registry.corp.example:5000'] } });
  const decide = (requestedAllowlist: string[] | undefined, requestedMode: 'allowlist' | 'gateway-only' = 'allowlist') =>
    evaluateBuiltinRules(fw, { gate: 'networkProfile', requestedMode, ...(requestedAllowlist ? { requestedAllowlist } : {}) }).find((d) => d.rule === rule)!;
  assert.equal(decide(undefined).allowed, true);
  assert.equal(decide(['github.com', 'files.pypi.org:443', '*.cdn.pypi.org', 'registry.corp.example:5000']).allowed, true);
  const outside = decide(['github.com', 'evil.example', 'github.com:22', 'registry.corp.example']);
  assert.equal(outside.allowed, false);
  assert.match(outside.message, /evil\.example, github\.com:22, registry\.corp\.example\b.* not covered by the profile's egressAllowlist/, outside.message);
  assert.doesNotMatch(outside.message.split('not covered')[0]!, /github\.com(?!:)/, 'a covered entry is not named');
  assert.match(decide(['github.com'], 'gateway-only').message, /narrows network mode allowlist only/);
  assert.equal(decide(['github.com'], 'gateway-only').allowed, false);
});

test('describeProfileRules lists the rules in force, built-in and CEL', () => {
  const lines = describeProfileRules(
    profile('corporate_firewall', {
      ...SPECS.corporate_firewall,
      rules: [{ name: 'no-latest', gate: 'containerExecution', expression: '!request.image.endsWith(":latest")', message: 'no :latest images' }],
    }),
  );
  assert.ok(lines.includes('containerExecution builtin.images.registry-allowlist: images only from [ghcr.io/acme, registry.corp.example]'), lines.join('\n'));
  assert.ok(lines.includes('containerExecution cel.no-latest: no :latest images'));
  assert.ok(lines.some((l) => l.startsWith('networkProfile builtin.network.open-personal-only: network mode gateway-only')));
  assert.ok(!lines.some((l) => l.includes('builtin.images.digest')), 'digest rule is not in force without requireDigest');
  assert.ok(!describeProfileRules(profile('personal')).some((l) => l.includes('airgapped')));
});
