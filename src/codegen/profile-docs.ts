// The generated parts of docs/profiles.md: the seven profile types side by side, computed from
// the built-in rules table (src/governance/profile-rules.ts) and, for concrete scenarios, by
// running the real policy engine over the example profiles in examples/profiles/. Nothing here
// restates a rule by hand, so the comparison cannot drift from what is enforced.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import type { AgentMachineProfileSpec, Budget, ProfileType } from '../api/types.generated.ts';
import { BUDGET_DIMENSIONS } from '../governance/budget.ts';
import { CelSandbox } from '../governance/cel-sandbox.ts';
import { evaluatePolicy } from '../governance/policy.ts';
import { BUILTIN_RULES, effectiveNetworkMode, evaluateBuiltinRules, NETWORK_MODES, PROFILE_TYPES, type ProfileInput } from '../governance/profile-rules.ts';
import type { PolicyRequest } from '../governance/requests.ts';
import { cell, prose } from './reference-docs.ts';

export const PROFILES_DOC = 'docs/profiles.md';
export const EXAMPLE_PROFILES_DIR = 'examples/profiles';

export interface ExampleProfile {
  /** Relative to the repository root. */
  file: string;
  profile: ProfileInput & { metadata: { name: string } };
}

/** examples/profiles/*.yaml, one per type, in the order of PROFILE_TYPES. */
export function loadExampleProfiles(root: string): ExampleProfile[] {
  const dir = path.join(root, EXAMPLE_PROFILES_DIR);
  const found = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => ({ file: `${EXAMPLE_PROFILES_DIR}/${f}`, profile: parse(readFileSync(path.join(dir, f), 'utf8')) as ExampleProfile['profile'] }));
  const rank = (e: ExampleProfile) => (PROFILE_TYPES as readonly string[]).indexOf(e.profile.spec.profileType);
  return found.sort((a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file));
}

// ---------------------------------------------------------------------------------------------
// Built-in rules by type

const FULL_BUDGET: Required<Budget> = Object.fromEntries(BUDGET_DIMENSIONS.map((d) => [d, 1])) as Required<Budget>;
const AUTHORITY = { delegator: 'docs', delegate: 'agent:docs', scopes: ['agent_machine.profile.create'], expiresAt: '2100-01-01T00:00:00Z', purpose: 'docs' };

/** The least a valid profile of this type says: whatever a rule adds on top is "when configured". */
export function minimalProfile(type: ProfileType): ProfileInput {
  const spec: AgentMachineProfileSpec = { profileType: type, authority: AUTHORITY, budgetCeilings: FULL_BUDGET };
  if (type === 'multi_corporate_firewall') spec.tenants = ['spec.tenants'];
  return { spec };
}

/**
 * Every optional knob turned on, within what the CRD accepts for the type. List values name the
 * field they come from, so rule descriptions read "images only from [spec.images.allowedRegistries]".
 */
export function configuredProfile(type: ProfileType): ProfileInput {
  const spec: AgentMachineProfileSpec = {
    ...minimalProfile(type).spec,
    network:
      type === 'airgapped_local_only'
        ? { mode: 'none' }
        : { mode: 'allowlist', egressAllowlist: ['spec.network.egressAllowlist'], proxy: 'http://proxy.example:3128' },
    images: { allowedRegistries: ['spec.images.allowedRegistries'], requireDigest: true },
    modelProviders: { allowedHosts: ['spec.modelProviders.allowedHosts'] },
  };
  return { spec };
}

type Applies = 'always' | 'configured' | 'never';

export function ruleApplies(rule: (typeof BUILTIN_RULES)[number], type: ProfileType): Applies {
  if (rule.appliesTo(minimalProfile(type))) return 'always';
  return rule.appliesTo(configuredProfile(type)) ? 'configured' : 'never';
}

/**
 * The rule's own sentence (what status.effective.rules shows), for the first type it applies to.
 * A sentence that would list an empty field ("model endpoints only on []") is taken from the
 * configured profile instead, where the list names the field it comes from.
 */
function describeRule(rule: (typeof BUILTIN_RULES)[number], applies: Applies[]): string {
  const index = applies.findIndex((a) => a !== 'never');
  const type = PROFILE_TYPES[Math.max(0, index)]!;
  const minimal = applies[index] === 'always' ? rule.describe(minimalProfile(type)) : undefined;
  return minimal !== undefined && !minimal.includes('[]') ? minimal : rule.describe(configuredProfile(type));
}

const APPLIES_MARK: Record<Applies, string> = { always: '✓', configured: 'if set', never: '—' };

export function renderRulesByType(): string {
  const lines = [
    `| Gate | Rule | What it enforces | ${PROFILE_TYPES.map((t) => `\`${t}\``).join(' | ')} |`,
    `|---|---|---|${PROFILE_TYPES.map(() => ':-:').join('|')}|`,
  ];
  for (const rule of BUILTIN_RULES) {
    const applies = PROFILE_TYPES.map((t) => ruleApplies(rule, t));
    lines.push(`| ${rule.gate} | \`${rule.name}\` | ${cell(prose(describeRule(rule, applies)))} | ${applies.map((a) => APPLIES_MARK[a]).join(' | ')} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Network by type

/** Which network modes the built-in networkProfile rules accept for a type. */
export function allowedNetworkModes(type: ProfileType): string[] {
  return NETWORK_MODES.filter((mode) => {
    const spec: AgentMachineProfileSpec = { ...minimalProfile(type).spec, network: { mode, ...(mode === 'allowlist' ? { egressAllowlist: ['example.com'] } : {}) } };
    const decisions = evaluateBuiltinRules({ spec }, { gate: 'networkProfile' });
    return decisions.length > 0 && decisions.every((d) => d.allowed);
  });
}

export function renderNetworkByType(): string {
  const lines = ['| Profile type | Network mode when `spec.network` is unset | Modes `spec.network.mode` may set |', '|---|---|---|'];
  for (const type of PROFILE_TYPES) {
    const unset = effectiveNetworkMode(minimalProfile(type));
    const withAllowlist = effectiveNetworkMode({ spec: { ...minimalProfile(type).spec, network: { egressAllowlist: ['example.com'] } as AgentMachineProfileSpec['network'] } });
    const defaultText = unset === withAllowlist ? `\`${unset}\`` : `\`${unset}\` (\`${withAllowlist}\` when \`egressAllowlist\` is set)`;
    lines.push(`| \`${type}\` | ${defaultText} | ${allowedNetworkModes(type).map((m) => `\`${m}\``).join(', ')} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The example profiles

function list(values: readonly string[] | undefined): string {
  return values && values.length > 0 ? values.map((v) => `\`${v}\``).join(', ') : '—';
}

export function renderExampleConfiguration(examples: ExampleProfile[]): string {
  const head = `| | ${examples.map((e) => `[\`${e.profile.metadata.name}\`](../${e.file})`).join(' | ')} |`;
  const rows: Array<[string, (p: ProfileInput) => string]> = [
    ['profile type', (p) => `\`${p.spec.profileType}\``],
    ['network mode in force', (p) => `\`${effectiveNetworkMode(p)}\``],
    ['egress allowlist', (p) => list(p.spec.network?.egressAllowlist)],
    ['egress proxy', (p) => (p.spec.network?.proxy ? `\`${p.spec.network.proxy}\`` : '—')],
    ['allowed registries', (p) => list(p.spec.images?.allowedRegistries)],
    ['image digest required', (p) => (p.spec.images?.requireDigest ? 'yes' : 'no')],
    ['model hosts (`modelProviders.allowedHosts`)', (p) => list(p.spec.modelProviders?.allowedHosts)],
    ['tenants', (p) => list(p.spec.tenants)],
    ['CEL rules', (p) => list((p.spec.rules ?? []).map((r) => `${r.gate}: ${r.name}`))],
    ...BUDGET_DIMENSIONS.map((d): [string, (p: ProfileInput) => string] => [`ceiling \`${d}\``, (p) => formatCount(d, p.spec.budgetCeilings?.[d])]),
  ];
  const lines = [head, `|---|${examples.map(() => '---').join('|')}|`];
  for (const [label, value] of rows) lines.push(`| ${label} | ${examples.map((e) => cell(value(e.profile))).join(' | ')} |`);
  return lines.join('\n');
}

function formatCount(dimension: string, value: number | undefined): string {
  if (value === undefined) return '—';
  if (dimension.endsWith('Bytes')) {
    const gib = value / 2 ** 30;
    return Number.isInteger(gib) ? `${gib} GiB` : `${(value / 2 ** 20).toFixed(0)} MiB`;
  }
  if (dimension.endsWith('Seconds') && value % 3600 === 0) return `${value / 3600} h`;
  return value.toLocaleString('en-US');
}

// ---------------------------------------------------------------------------------------------
// Scenarios

export interface Scenario {
  label: string;
  /** Built for a profile: tenant-bound requests act as the profile's first tenant. */
  request: (tenant: string | undefined) => PolicyRequest;
}

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const container = (image: string) => (tenant: string | undefined): PolicyRequest => ({
  gate: 'containerExecution',
  image,
  command: ['sh', '-c', 'echo hello'],
  ...(tenant ? { tenant } : {}),
});
const artifacts = (hostPath: string | undefined, outputs: string[]) => (tenant: string | undefined): PolicyRequest => ({
  gate: 'artifactAccess',
  ...(hostPath ? { hostPath, mountPath: '/workspace' } : {}),
  outputs,
  ...(tenant ? { tenant } : {}),
});
const tool = (name: string) => (tenant: string | undefined): PolicyRequest => ({ gate: 'toolGrant', tool: name, ...(tenant ? { grantTenant: tenant, tenant } : {}) });
const model = (endpoint: string, modelName: string, hasCredential: boolean, owner = 'alice') => (tenant: string | undefined): PolicyRequest => ({
  gate: 'modelProviderUse',
  endpoint,
  provider: 'openai',
  model: modelName,
  hasCredential,
  owner,
  delegator: 'alice',
  ...(tenant ? { bindingTenant: tenant, tenant } : {}),
});

export const SCENARIOS: readonly Scenario[] = [
  { label: 'run `localhost/agent-sandbox:dev` (a locally built image)', request: container('localhost/agent-sandbox:dev') },
  { label: 'run `python:3.12` (Docker Hub, by tag)', request: container('python:3.12') },
  { label: 'run `ghcr.io/acme/agent:1.0` (by tag)', request: container('ghcr.io/acme/agent:1.0') },
  { label: 'run `registry.corp.example.com/agents/builder@sha256:…` (by digest)', request: container(`registry.corp.example.com/agents/builder@${DIGEST}`) },
  { label: 'container without a tenant', request: () => container('localhost/agent-sandbox:dev')(undefined) },
  { label: 'mount `/data/airgapped/case-1` read-only', request: artifacts('/data/airgapped/case-1', []) },
  { label: 'mount `/home/alice/src/project` read-only', request: artifacts('/home/alice/src/project', []) },
  { label: 'mount `/home/alice` (a whole home directory)', request: artifacts('/home/alice', []) },
  { label: 'mount `/home/alice/.ssh` (SSH keys: a credential store)', request: artifacts('/home/alice/.ssh', []) },
  { label: 'mount `/var/run` (runtime sockets)', request: artifacts('/var/run', []) },
  { label: 'write outputs to `/workspace/out/report`', request: artifacts(undefined, ['/workspace/out/report']) },
  { label: 'write outputs to `/data/results`', request: artifacts(undefined, ['/data/results']) },
  { label: 'grant tool `mcp.github`', request: tool('mcp.github') },
  { label: 'grant tool `web.fetch`', request: tool('web.fetch') },
  { label: 'grant tool `jira.create_issue`', request: tool('jira.create_issue') },
  { label: 'model at `http://127.0.0.1:11434` (local Ollama), no credential', request: model('http://127.0.0.1:11434', 'llama3.2:3b', false) },
  { label: 'model at `http://vllm.llm.svc.cluster.local:8000` (in cluster)', request: model('http://vllm.llm.svc.cluster.local:8000', 'llama3.2:3b', false) },
  { label: 'model at `https://api.openai.com` with a credential', request: model('https://api.openai.com/v1', 'gpt-4o-mini', true) },
  { label: 'model at `https://api.openai.com` without a credential', request: model('https://api.openai.com/v1', 'gpt-4o-mini', false) },
  { label: 'model at `https://llm-gateway.corp.example.com` with a credential', request: model('https://llm-gateway.corp.example.com/v1', 'gpt-4o-mini', true) },
  { label: 'credential over plain http to `http://10.1.2.3:8000`', request: model('http://10.1.2.3:8000/v1', 'gpt-4o-mini', true) },
  { label: "model account owned by `bob`, delegated by `alice`", request: model('https://api.openai.com/v1', 'gpt-4o-mini', true, 'bob') },
  { label: 'ask for network mode `open`', request: () => ({ gate: 'networkProfile', requestedMode: 'open' }) },
  { label: 'ask for network mode `none`', request: () => ({ gate: 'networkProfile', requestedMode: 'none' }) },
];

/**
 * The scenario matrix: each scenario evaluated by the real policy engine (built-in and CEL rules)
 * under each example profile. ✓ allowed, ✗ denied, with every rule that denied.
 */
export function renderScenarios(examples: ExampleProfile[]): string {
  // Its own sandbox with generous limits: on a loaded machine the default 250 ms budget could
  // time a rule out, and the generated page must not depend on machine load.
  const sandbox = new CelSandbox({ startupTimeoutMs: 60_000 });
  try {
    const head = `| Request | ${examples.map((e) => `\`${e.profile.metadata.name}\``).join(' | ')} |`;
    const lines = [head, `|---|${examples.map(() => ':-:').join('|')}|`];
    for (const scenario of SCENARIOS) {
      const cells = examples.map((e) => {
        const request = scenario.request(e.profile.spec.tenants?.[0]);
        const result = evaluatePolicy(e.profile, request, { sandbox, budgetMs: 30_000, now: new Date('2026-01-01T00:00:00Z') });
        if (result.allowed) return '✓';
        const rules = [...new Set(result.decisions.filter((d) => !d.allowed).map((d) => d.rule))];
        return `✗ ${rules.map((r) => `\`${r}\``).join(', ')}`;
      });
      lines.push(`| ${cell(scenario.label)} | ${cells.join(' | ')} |`);
    }
    return lines.join('\n');
  } finally {
    sandbox.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Splicing into the hand-written page

const BEGIN = /<!-- BEGIN GENERATED ([a-z-]+)[^>]*-->\n/g;

/**
 * Replaces the body of every `<!-- BEGIN GENERATED name -->` … `<!-- END GENERATED name -->`
 * block with the named section; the prose around the blocks is kept as written. Every block
 * must have a section and every section a block, so a renamed marker cannot silently stop updating.
 */
export function spliceGenerated(doc: string, sections: Record<string, string>): string {
  const seen = new Set<string>();
  let out = '';
  let at = 0;
  for (const match of doc.matchAll(BEGIN)) {
    const name = match[1]!;
    if (seen.has(name)) throw new Error(`generated block ${name} appears twice`);
    seen.add(name);
    const section = sections[name];
    if (section === undefined) throw new Error(`no generator for block ${name}`);
    const bodyStart = match.index + match[0].length;
    const end = doc.indexOf(`<!-- END GENERATED ${name} -->`, bodyStart);
    if (end < 0) throw new Error(`generated block ${name} has no END marker`);
    out += doc.slice(at, bodyStart) + section.trimEnd() + '\n';
    at = end;
  }
  const missing = Object.keys(sections).filter((s) => !seen.has(s));
  if (missing.length > 0) throw new Error(`no block for generated section(s) ${missing.join(', ')}`);
  return out + doc.slice(at);
}

export function profileSections(root: string): Record<string, string> {
  const examples = loadExampleProfiles(root);
  return {
    'network-by-type': renderNetworkByType(),
    'rules-by-type': renderRulesByType(),
    'example-profiles': renderExampleConfiguration(examples),
    'scenarios': renderScenarios(examples),
  };
}
