// The built-in rules of each profile type, as one table. Each rule states the gate it guards,
// the profiles it applies to, a sentence for status.effective.rules and a check; evaluation and
// description both walk this table, so what the profile says is in force is what is enforced.
//
// | gate               | rule                                          | applies to                          |
// |--------------------|-----------------------------------------------|-------------------------------------|
// | containerExecution | builtin.images.reference                      | every type                          |
// | containerExecution | builtin.firewall.registry-allowlist-required  | corporate, multi-corporate firewall |
// | containerExecution | builtin.images.registry-allowlist             | images.allowedRegistries set        |
// | containerExecution | builtin.images.digest                         | images.requireDigest                |
// | containerExecution | builtin.multi-tenant.execution-tenant         | multi-corporate firewall            |
// | containerExecution | builtin.credentials.secret-env                | firewalls, hosted model provider    |
// | networkProfile     | builtin.network.open-personal-only            | every type                          |
// | networkProfile     | builtin.airgapped.no-network                  | airgapped                           |
// | networkProfile     | builtin.network.allowlist-nonempty            | effective mode allowlist            |
// | networkProfile     | builtin.network.requested-within-profile      | every type                          |
// | networkProfile     | builtin.network.allowlist-within-profile      | every type                          |
// | modelProviderUse   | builtin.model.endpoint-url                    | every type                          |
// | modelProviderUse   | builtin.model.credential-tls                  | every type                          |
// | modelProviderUse   | builtin.airgapped.loopback-endpoint           | airgapped                           |
// | modelProviderUse   | builtin.local-provider.local-endpoint         | local model provider                |
// | modelProviderUse   | builtin.firewall.model-host-allowlist         | corporate, multi-corporate firewall |
// | modelProviderUse   | builtin.hosted.credential                     | hosted model provider               |
// | modelProviderUse   | builtin.user-owned.owner-is-delegator         | user-owned model                    |
// | modelProviderUse   | builtin.multi-tenant.binding-tenant           | multi-corporate firewall            |
// | toolGrant          | builtin.tool.name                             | every type                          |
// | toolGrant          | builtin.airgapped.no-network-tools            | airgapped                           |
// | toolGrant          | builtin.multi-tenant.grant-tenant             | multi-corporate firewall            |
// | artifactAccess     | builtin.artifacts.credential-stores           | every type                          |
// | artifactAccess     | builtin.artifacts.host-path                   | every type                          |
// | artifactAccess     | builtin.artifacts.mount-targets               | every type                          |
// | artifactAccess     | builtin.artifacts.output-paths                | every type                          |
// | artifactAccess     | builtin.airgapped.output-paths                | airgapped                           |
// | artifactAccess     | builtin.firewall.output-paths                 | corporate, multi-corporate firewall |
// | artifactAccess     | builtin.outputs.names                         | outputs.allowedNames set            |
// | artifactAccess     | builtin.outputs.size                          | outputs.maxBytes set                |
// | artifactAccess     | builtin.outputs.media-types                   | outputs.allowedMediaTypes set       |
// | artifactAccess     | builtin.outputs.review                        | outputs.requireReview               |
//
// The builtin.outputs.* rules decide promotion (a request with `promotion` set, made when a
// container's outputs are stored); when the container is admitted they have nothing to check.
//
// An unknown profile type gets no table rows, only a denial (builtin.profile.type).
import type { AgentMachineProfileSpec, PolicyGate, ProfileType } from '../api/types.generated.ts';
import { allowlistCovers } from '../gateway/egress-plan.ts';
import { celRuleName } from './cel-rules.ts';
import { allow, clamp, CREDENTIAL_MOUNT, deny, listForMessage, type Decision } from './decision.ts';
import { hostAllowed, isLocalHost, isMetadataOrLinkLocalHost, parseEndpoint } from './endpoints.ts';
import { CONFINED_OUTPUT_ROOTS, credentialMountAllowed, credentialStoreIn, forbiddenHostPath, isNormalizedAbsolute, isWithin } from './host-paths.ts';
import { parseImageRef, registryAllowed } from './image-ref.ts';
import type { NetworkMode, PolicyRequest, RequestFor } from './requests.ts';

export type ProfileInput = { metadata?: { name?: string }; spec: AgentMachineProfileSpec };

export const PROFILE_TYPES = [
  'personal',
  'corporate_firewall',
  'multi_corporate_firewall',
  'local_model_provider',
  'hosted_model_provider',
  'airgapped_local_only',
  'user_owned_model',
] as const satisfies readonly ProfileType[];

/** Inside the container: where the kernel's interfaces live. Nothing is mounted over them. */
const KERNEL_TREES = ['/proc', '/sys', '/dev'] as const;
const FIREWALLS: readonly ProfileType[] = ['corporate_firewall', 'multi_corporate_firewall'];
/** Profiles whose containers take no Secret into their environment unless the profile names it. */
const SECRET_ENV_CONFINED: readonly ProfileType[] = [...FIREWALLS, 'hosted_model_provider'];
const NETWORK_TOOL_PREFIXES = ['web.', 'http.', 'browser.'] as const;
const TOOL_NAME = /^[a-z0-9]([a-z0-9._:/-]*[a-z0-9])?$/;

/** Ordered from closed to open: a request may ask for its profile's mode or anything before it. */
export const NETWORK_MODES = ['none', 'gateway-only', 'allowlist', 'open'] as const satisfies readonly NetworkMode[];

function isProfileType(value: unknown): value is ProfileType {
  return (PROFILE_TYPES as readonly unknown[]).includes(value);
}

function isNetworkMode(value: unknown): value is NetworkMode {
  return (NETWORK_MODES as readonly unknown[]).includes(value);
}

export function effectiveNetworkMode(profile: ProfileInput): NetworkMode {
  const spec = profile.spec;
  const explicit = spec.network?.mode;
  if (explicit !== undefined) return isNetworkMode(explicit) ? explicit : 'none';
  switch (spec.profileType) {
    case 'personal':
      return 'open';
    case 'corporate_firewall':
    case 'multi_corporate_firewall':
      return (spec.network?.egressAllowlist?.length ?? 0) > 0 ? 'allowlist' : 'gateway-only';
    case 'local_model_provider':
    case 'hosted_model_provider':
    case 'user_owned_model':
      return 'gateway-only';
    default:
      // airgapped_local_only, and anything unknown: closed.
      return 'none';
  }
}

/**
 * The mode a container runs with: the one its execution asked for (`spec.network.mode`) when
 * that is within the profile's, else the profile's. Admission denies a wider request
 * (builtin.network.requested-within-profile); taking the narrower of the two here means the
 * runtime never opens more than both allow, whatever was admitted. An unknown mode is none.
 */
export function containerNetworkMode(profile: ProfileInput, requested: unknown): NetworkMode {
  const mode = effectiveNetworkMode(profile);
  if (requested === undefined) return mode;
  if (!isNetworkMode(requested)) return 'none';
  return NETWORK_MODES[Math.min(NETWORK_MODES.indexOf(mode), NETWORK_MODES.indexOf(requested))]!;
}

type Outcome = { allowed: boolean; message: string };
const ok = (message: string): Outcome => ({ allowed: true, message });
const no = (message: string): Outcome => ({ allowed: false, message });

type BuiltinRule = {
  gate: PolicyGate;
  name: string;
  appliesTo: (profile: ProfileInput) => boolean;
  describe: (profile: ProfileInput) => string;
  check: (profile: ProfileInput, request: PolicyRequest) => Outcome;
};

// Ties a check's request type to the rule's gate, so the table stays one plain array.
function rule<G extends PolicyGate>(def: {
  gate: G;
  name: string;
  appliesTo: (profile: ProfileInput) => boolean;
  describe: (profile: ProfileInput) => string;
  check: (profile: ProfileInput, request: RequestFor<G>) => Outcome;
}): BuiltinRule {
  return {
    ...def,
    check: (profile, request) =>
      request.gate === def.gate ? def.check(profile, request as RequestFor<G>) : no(`request for gate ${request.gate} reached a ${def.gate} rule`),
  };
}

const always = (): boolean => true;
const ofType =
  (...types: ProfileType[]) =>
  (profile: ProfileInput): boolean =>
    types.includes(profile.spec.profileType);
const tenantsOf = (profile: ProfileInput): string[] => profile.spec.tenants ?? [];

function tenantOutcome(profile: ProfileInput, what: string, ownTenant: string | undefined, actingTenant: string | undefined): Outcome {
  const tenants = tenantsOf(profile);
  if (ownTenant === undefined) return no(`${what} names no tenant; this profile requires one of ${listForMessage(tenants)}`);
  if (!tenants.includes(ownTenant)) return no(`${what} tenant ${ownTenant} is not one of this profile's tenants ${listForMessage(tenants)}`);
  if (actingTenant !== undefined && actingTenant !== ownTenant) return no(`${what} belongs to tenant ${ownTenant}, not to the acting tenant ${actingTenant}`);
  return ok(`${what} tenant ${ownTenant} is listed${actingTenant !== undefined ? ' and matches the acting tenant' : ''}`);
}

function localEndpointOutcome(request: RequestFor<'modelProviderUse'>, who: string): Outcome {
  const parsed = parseEndpoint(request.endpoint);
  if ('error' in parsed) return no(parsed.error);
  if (!isLocalHost(parsed.hostname)) return no(`${who} profiles only use loopback or cluster-local endpoints; ${parsed.hostname} is neither`);
  return ok(`endpoint host ${parsed.hostname} is local`);
}

function outputsWithinRoots(request: RequestFor<'artifactAccess'>): Outcome {
  const outside = (request.outputs ?? []).filter((p) => !CONFINED_OUTPUT_ROOTS.some((root) => isWithin(p, root)));
  if (outside.length > 0) return no(`output paths ${listForMessage(outside)} are outside ${CONFINED_OUTPUT_ROOTS.join(' and ')}`);
  return ok(`output paths are under ${CONFINED_OUTPUT_ROOTS.join(' or ')}`);
}

/** type/subtype matches itself; type/* matches any subtype of type. */
export function mediaTypeMatches(type: string, pattern: string): boolean {
  return pattern.endsWith('/*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern;
}

const outputRules = (profile: ProfileInput) => profile.spec.outputs ?? {};
const AT_PROMOTION = ok('checked when an output is promoted');

export const BUILTIN_RULES: readonly BuiltinRule[] = [
  // containerExecution
  rule({
    gate: 'containerExecution',
    name: 'builtin.images.reference',
    appliesTo: always,
    describe: () => 'images must be valid references (registry/repository[:tag][@sha256:digest])',
    check: (_, r) => {
      const ref = parseImageRef(r.image);
      return ref ? ok(`image resolves to ${ref.normalized}`) : no(`image ${JSON.stringify(r.image)} is not a valid image reference`);
    },
  }),
  rule({
    gate: 'containerExecution',
    name: 'builtin.firewall.registry-allowlist-required',
    appliesTo: ofType(...FIREWALLS),
    describe: () => 'firewall profiles need an explicit images.allowedRegistries',
    check: (p) =>
      (p.spec.images?.allowedRegistries?.length ?? 0) > 0
        ? ok('profile lists its allowed registries')
        : no(`${p.spec.profileType} profiles need an explicit registry allowlist (spec.images.allowedRegistries)`),
  }),
  rule({
    gate: 'containerExecution',
    name: 'builtin.images.registry-allowlist',
    appliesTo: (p) => (p.spec.images?.allowedRegistries?.length ?? 0) > 0,
    describe: (p) => `images only from ${listForMessage(p.spec.images?.allowedRegistries ?? [])}`,
    check: (p, r) => {
      const ref = parseImageRef(r.image);
      const allowed = p.spec.images?.allowedRegistries ?? [];
      if (!ref) return no(`image ${JSON.stringify(r.image)} is not a valid image reference`);
      const entry = registryAllowed(ref, allowed);
      return entry !== undefined
        ? ok(`${ref.registry}/${ref.repository} is allowed by ${entry}`)
        : no(`image ${ref.normalized} is from ${ref.registry}, which is not in allowedRegistries ${listForMessage(allowed)}`);
    },
  }),
  rule({
    gate: 'containerExecution',
    name: 'builtin.images.digest',
    appliesTo: (p) => p.spec.images?.requireDigest === true,
    describe: () => 'images must be pinned by digest (@sha256:...)',
    check: (_, r) => (parseImageRef(r.image)?.digest ? ok('image is pinned by digest') : no(`image ${r.image} is not pinned by digest (@sha256:...)`)),
  }),
  rule({
    gate: 'containerExecution',
    name: 'builtin.credentials.secret-env',
    appliesTo: ofType(...SECRET_ENV_CONFINED),
    describe: (p) =>
      p.spec.secretEnv?.length
        ? `no Secrets in container environments except ${listForMessage(p.spec.secretEnv)} (tool credentials go through connectors)`
        : 'no Secrets in container environments (tool credentials go through connectors)',
    check: (p, r) => {
      const allowed = p.spec.secretEnv ?? [];
      const refused = (r.secretEnvNames ?? []).filter((n) => !allowed.includes(n));
      if (refused.length > 0) {
        return no(`${p.spec.profileType} profiles keep Secrets out of containers: ${listForMessage(refused)} take${refused.length === 1 ? 's' : ''} a Secret (valueFrom.secretKeyRef); give the tool a connector (ToolGrantRecord spec.connector) so the gateway injects the credential, or name the variable in the profile's spec.secretEnv`);
      }
      return ok(r.secretEnvNames?.length ? `Secrets only in ${listForMessage(r.secretEnvNames)}, named by the profile's spec.secretEnv` : 'no Secret in the environment');
    },
  }),
  rule({
    gate: 'containerExecution',
    name: 'builtin.multi-tenant.execution-tenant',
    appliesTo: ofType('multi_corporate_firewall'),
    describe: (p) => `every execution names one of the tenants ${listForMessage(tenantsOf(p))}`,
    check: (p, r) => tenantOutcome(p, 'execution', r.tenant, undefined),
  }),

  // networkProfile
  rule({
    gate: 'networkProfile',
    name: 'builtin.network.open-personal-only',
    appliesTo: always,
    describe: (p) => `network mode ${effectiveNetworkMode(p)} (open is for personal profiles only)`,
    check: (p) => {
      const mode = effectiveNetworkMode(p);
      if (mode === 'open' && p.spec.profileType !== 'personal') return no(`network mode open is only allowed under personal profiles, not ${p.spec.profileType}`);
      return ok(`network mode ${mode}`);
    },
  }),
  rule({
    gate: 'networkProfile',
    name: 'builtin.airgapped.no-network',
    appliesTo: ofType('airgapped_local_only'),
    describe: () => 'no network at all (mode none)',
    check: (p) => {
      const mode = effectiveNetworkMode(p);
      return mode === 'none' ? ok('airgapped: no network') : no(`airgapped profiles must use network mode none, not ${mode}`);
    },
  }),
  rule({
    gate: 'networkProfile',
    name: 'builtin.network.allowlist-nonempty',
    appliesTo: (p) => effectiveNetworkMode(p) === 'allowlist',
    describe: (p) => `egress only to ${listForMessage(p.spec.network?.egressAllowlist ?? [])}${p.spec.network?.proxy ? ' via the proxy' : ''}`,
    check: (p) =>
      (p.spec.network?.egressAllowlist?.length ?? 0) > 0 ? ok('egress allowlist is set') : no('network mode allowlist with an empty egressAllowlist'),
  }),
  rule({
    gate: 'networkProfile',
    name: 'builtin.network.requested-within-profile',
    appliesTo: always,
    describe: () => 'nothing may ask for a more open network than the profile allows',
    check: (p, r) => {
      const mode = effectiveNetworkMode(p);
      if (r.requestedMode === undefined) return ok(`uses the profile's network mode ${mode}`);
      if (!isNetworkMode(r.requestedMode)) return no(`requested network mode ${JSON.stringify(r.requestedMode)} is unknown`);
      // allowlist means the profile's list: with none, it is nothing to narrow to.
      if (r.requestedMode === 'allowlist' && (p.spec.network?.egressAllowlist?.length ?? 0) === 0) return no('requested network mode allowlist, but the profile has no egressAllowlist');
      return NETWORK_MODES.indexOf(r.requestedMode) <= NETWORK_MODES.indexOf(mode)
        ? ok(`requested network mode ${r.requestedMode} is within ${mode}`)
        : no(`requested network mode ${r.requestedMode} is more open than the profile's ${mode}`);
    },
  }),

  rule({
    gate: 'networkProfile',
    name: 'builtin.network.allowlist-within-profile',
    appliesTo: always,
    describe: () => "an execution's egressAllowlist only narrows the profile's",
    check: (p, r) => {
      if (r.requestedAllowlist === undefined) return ok("no narrower egress allowlist: the profile's applies");
      if (r.requestedMode !== 'allowlist') return no(`spec.network.egressAllowlist narrows network mode allowlist only, not ${r.requestedMode ?? 'the mode of the profile'}`);
      const profileList = p.spec.network?.egressAllowlist ?? [];
      const outside = r.requestedAllowlist.filter((e) => !allowlistCovers(profileList, e));
      return outside.length > 0
        ? no(`egressAllowlist ${listForMessage(outside)} ${outside.length === 1 ? 'is' : 'are'} not covered by the profile's egressAllowlist ${listForMessage(profileList)}: an execution can only narrow it`)
        : ok(`egress narrowed to ${listForMessage(r.requestedAllowlist)}`);
    },
  }),

  // modelProviderUse
  rule({
    gate: 'modelProviderUse',
    name: 'builtin.model.endpoint-url',
    appliesTo: always,
    describe: () => 'model endpoints are http(s) URLs without embedded credentials, not on link-local or cloud metadata addresses',
    check: (_, r) => {
      const parsed = parseEndpoint(r.endpoint);
      if ('error' in parsed) return no(parsed.error);
      if (isMetadataOrLinkLocalHost(parsed.hostname)) return no(`endpoint host ${parsed.hostname} is a link-local or cloud metadata address, never a model endpoint`);
      return ok(`endpoint host ${parsed.hostname}:${parsed.port}`);
    },
  }),
  rule({
    gate: 'modelProviderUse',
    name: 'builtin.model.credential-tls',
    appliesTo: always,
    describe: () => 'credentials only travel over https unless the endpoint is loopback or cluster-local',
    check: (_, r) => {
      const parsed = parseEndpoint(r.endpoint);
      if ('error' in parsed) return no(parsed.error);
      if (r.hasCredential && parsed.url.protocol === 'http:' && !isLocalHost(parsed.hostname)) {
        return no(`a credential would be sent to ${parsed.hostname} over plain http; use https`);
      }
      return ok(r.hasCredential ? 'credential travels over https or stays local' : 'no credential');
    },
  }),
  rule({
    gate: 'modelProviderUse',
    name: 'builtin.airgapped.loopback-endpoint',
    appliesTo: ofType('airgapped_local_only'),
    describe: () => 'model endpoints only on loopback or cluster-local (*.svc) hosts',
    check: (_, r) => localEndpointOutcome(r, 'airgapped_local_only'),
  }),
  rule({
    gate: 'modelProviderUse',
    name: 'builtin.local-provider.local-endpoint',
    appliesTo: ofType('local_model_provider'),
    describe: () => 'model endpoints only on loopback or cluster-local (*.svc) hosts',
    check: (_, r) => localEndpointOutcome(r, 'local_model_provider'),
  }),
  rule({
    gate: 'modelProviderUse',
    name: 'builtin.firewall.model-host-allowlist',
    appliesTo: ofType(...FIREWALLS),
    describe: (p) => `model endpoints only on ${listForMessage(p.spec.modelProviders?.allowedHosts ?? [])}`,
    check: (p, r) => {
      const parsed = parseEndpoint(r.endpoint);
      if ('error' in parsed) return no(parsed.error);
      const allowed = p.spec.modelProviders?.allowedHosts ?? [];
      if (allowed.length === 0) return no(`${p.spec.profileType} profiles need spec.modelProviders.allowedHosts to use any model endpoint`);
      const entry = hostAllowed(parsed, allowed);
      return entry !== undefined
        ? ok(`${parsed.hostname}:${parsed.port} is allowed by ${entry}`)
        : no(`model endpoint ${parsed.hostname}:${parsed.port} is not in modelProviders.allowedHosts ${listForMessage(allowed)}`);
    },
  }),
  rule({
    gate: 'modelProviderUse',
    name: 'builtin.hosted.credential',
    appliesTo: ofType('hosted_model_provider'),
    describe: () => 'hosted providers are used with a credential from a Secret',
    check: (_, r) => (r.hasCredential ? ok('binding has a credential') : no('hosted_model_provider bindings need credentialsSecretRef')),
  }),
  rule({
    gate: 'modelProviderUse',
    name: 'builtin.user-owned.owner-is-delegator',
    appliesTo: ofType('user_owned_model'),
    describe: () => "the model account's owner is the delegator",
    check: (_, r) =>
      r.owner === r.delegator ? ok(`owner ${r.owner} is the delegator`) : no(`model owner ${r.owner} is not the delegator ${r.delegator}: user-owned models are used only by their owner`),
  }),
  rule({
    gate: 'modelProviderUse',
    name: 'builtin.multi-tenant.binding-tenant',
    appliesTo: ofType('multi_corporate_firewall'),
    describe: () => "bindings belong to a listed tenant and serve only that tenant's executions",
    check: (p, r) => tenantOutcome(p, 'model provider binding', r.bindingTenant, r.tenant),
  }),

  // toolGrant
  rule({
    gate: 'toolGrant',
    name: 'builtin.tool.name',
    appliesTo: always,
    describe: () => 'tools are named references (e.g. mcp.github/create_issue)',
    check: (_, r) =>
      typeof r.tool === 'string' && r.tool.length <= 253 && TOOL_NAME.test(r.tool) ? ok(`tool ${r.tool}`) : no(`tool name ${JSON.stringify(r.tool)} is not a valid tool reference`),
  }),
  rule({
    gate: 'toolGrant',
    name: 'builtin.airgapped.no-network-tools',
    appliesTo: ofType('airgapped_local_only'),
    describe: () => `no network tools (${NETWORK_TOOL_PREFIXES.map((p) => `${p}*`).join(', ')})`,
    check: (_, r) => {
      const prefix = NETWORK_TOOL_PREFIXES.find((p) => r.tool.startsWith(p));
      return prefix ? no(`tool ${r.tool} is a network tool (${prefix}*), which airgapped profiles never grant`) : ok(`tool ${r.tool} is not a network tool`);
    },
  }),
  rule({
    gate: 'toolGrant',
    name: 'builtin.multi-tenant.grant-tenant',
    appliesTo: ofType('multi_corporate_firewall'),
    describe: () => "grants belong to a listed tenant and serve only that tenant's executions",
    check: (p, r) => tenantOutcome(p, 'tool grant', r.grantTenant, r.tenant),
  }),

  // artifactAccess
  rule({
    gate: 'artifactAccess',
    name: 'builtin.artifacts.credential-stores',
    appliesTo: always,
    describe: (p) =>
      p.spec.credentialMounts?.length
        ? `no credential or key stores in home directories or /root (~/.ssh, ~/.kube, ~/.aws, ...) except ${listForMessage(p.spec.credentialMounts)}, each mount audited`
        : 'no credential or key stores in home directories or /root (~/.ssh, ~/.kube, ~/.aws, ...)',
    // Checked before the rest of the host-path floor, and on the path as written before it is
    // resolved: a credential store is refused as one whether or not it exists on this host.
    check: (p, r) => {
      if (r.hostPath === undefined) return ok('no host folder mounted');
      const paths = r.resolvedHostPath !== undefined && r.resolvedHostPath !== r.hostPath ? [r.hostPath, r.resolvedHostPath] : [r.hostPath];
      const named: string[] = [];
      for (const path of paths) {
        const store = credentialStoreIn(path);
        if (store === undefined) continue;
        const via = path === r.hostPath ? `host path ${path}` : `host path ${r.hostPath} resolves to ${path}, which`;
        if (!credentialMountAllowed(path, p.spec.credentialMounts)) {
          return no(`${via} exposes the credential store ${store}; credential stores are never mounted unless the profile names them in spec.credentialMounts`);
        }
        named.push(store);
      }
      return named.length > 0 ? ok(`${CREDENTIAL_MOUNT}${listForMessage([...new Set(named)])} mounted read-only, named by the profile's spec.credentialMounts`) : ok('no credential store mounted');
    },
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.artifacts.host-path',
    appliesTo: always,
    describe: () => 'no host mounts of /, system trees (/etc, /proc, /sys, /dev, /run, ...), runtime state or whole home directories',
    check: (_, r) => {
      if (r.hostPath === undefined) return ok('no host folder mounted');
      const why = forbiddenHostPath(r.hostPath);
      if (why !== undefined) return no(why);
      // The path as written says nothing about where its symlinks lead: the resolved path must
      // pass the same check (a link to /etc or to the engine's socket folder is /etc).
      if (r.hostPathError !== undefined) return no(`host path ${r.hostPath} cannot be mounted: ${r.hostPathError}`);
      if (r.resolvedHostPath !== undefined && r.resolvedHostPath !== r.hostPath) {
        const real = forbiddenHostPath(r.resolvedHostPath);
        if (real !== undefined) return no(`host path ${r.hostPath} resolves to ${r.resolvedHostPath}: ${real}`);
        return ok(`host folder ${r.hostPath} (${r.resolvedHostPath}) mounted read-only`);
      }
      return ok(`host folder ${r.hostPath} mounted read-only`);
    },
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.artifacts.mount-targets',
    appliesTo: always,
    describe: () => `the workspace and outputs are mounted at distinct paths, never at / or inside ${KERNEL_TREES.join(', ')}`,
    check: (_, r) => {
      const targets = [...(r.hostPath !== undefined ? [r.mountPath ?? '/workspace'] : []), ...(r.outputs ?? [])];
      // Covering the kernel's interfaces is refused by the OCI runtime at start (or worse, by
      // one that does not check): deny it here, where it is a clear decision, not a failed start.
      const kernel = targets.filter((t) => t === '/' || KERNEL_TREES.some((tree) => isWithin(t, tree)));
      if (kernel.length > 0) return no(`mount targets ${listForMessage(kernel)} would cover / or the kernel's ${KERNEL_TREES.join(', ')}`);
      const twice = targets.filter((t, i) => targets.indexOf(t) !== i);
      if (twice.length > 0) return no(`mount targets ${listForMessage([...new Set(twice)])} are used more than once`);
      return ok(targets.length > 0 ? `mount targets ${listForMessage(targets)}` : 'nothing mounted');
    },
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.artifacts.output-paths',
    appliesTo: always,
    describe: () => 'output paths are normalized absolute paths other than /',
    check: (_, r) => {
      const bad = (r.outputs ?? []).filter((p) => !isNormalizedAbsolute(p) || p === '/');
      return bad.length > 0 ? no(`output paths ${listForMessage(bad)} are not normalized absolute paths (or are /)`) : ok('output paths are well-formed');
    },
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.airgapped.output-paths',
    appliesTo: ofType('airgapped_local_only'),
    describe: () => `writes only under ${CONFINED_OUTPUT_ROOTS.join(' or ')}`,
    check: (_, r) => outputsWithinRoots(r),
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.firewall.output-paths',
    appliesTo: ofType(...FIREWALLS),
    describe: () => `writes only under ${CONFINED_OUTPUT_ROOTS.join(' or ')}`,
    check: (_, r) => outputsWithinRoots(r),
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.outputs.names',
    appliesTo: (p) => outputRules(p).allowedNames !== undefined,
    describe: (p) => `only outputs named in outputs.allowedNames ${listForMessage(outputRules(p).allowedNames ?? [])} are admitted`,
    check: (p, r) => {
      if (!r.promotion) return AT_PROMOTION;
      const names = outputRules(p).allowedNames ?? [];
      return names.includes(r.promotion.name) ? ok(`output name ${r.promotion.name} is allowed`) : no(`output name ${r.promotion.name} is not one of ${listForMessage(names)}`);
    },
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.outputs.size',
    appliesTo: (p) => outputRules(p).maxBytes !== undefined,
    describe: (p) => `outputs of at most outputs.maxBytes (${outputRules(p).maxBytes ?? 'unset'}) bytes are admitted`,
    check: (p, r) => {
      if (!r.promotion) return AT_PROMOTION;
      const max = outputRules(p).maxBytes ?? 0;
      return r.promotion.size <= max ? ok(`${r.promotion.size} bytes is within ${max}`) : no(`output ${r.promotion.name} is ${r.promotion.size} bytes, over the profile's ${max}`);
    },
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.outputs.media-types',
    appliesTo: (p) => outputRules(p).allowedMediaTypes !== undefined,
    describe: (p) => `outputs are admitted only when every entry's media type (read from its bytes) is in outputs.allowedMediaTypes ${listForMessage(outputRules(p).allowedMediaTypes ?? [])}`,
    check: (p, r) => {
      if (!r.promotion) return AT_PROMOTION;
      const allowed = outputRules(p).allowedMediaTypes ?? [];
      const refused = r.promotion.contentTypes.filter((t) => !allowed.some((pattern) => mediaTypeMatches(t, pattern)));
      return refused.length === 0
        ? ok(`entries are ${listForMessage(r.promotion.contentTypes)}`)
        : no(`output ${r.promotion.name} holds ${listForMessage(refused)}, not among the allowed ${listForMessage(allowed)}`);
    },
  }),
  rule({
    gate: 'artifactAccess',
    name: 'builtin.outputs.review',
    appliesTo: (p) => outputRules(p).requireReview === true,
    describe: () => 'no output is admitted without review: each stays provisional',
    check: (_, r) => (r.promotion ? no(`output ${r.promotion.name} waits for review (outputs.requireReview): it stays provisional`) : AT_PROMOTION),
  }),
];

/** One decision per built-in rule that applies to this profile at this request's gate. */
export function evaluateBuiltinRules(profile: ProfileInput, request: PolicyRequest): Decision[] {
  const gate = request.gate;
  if (!isProfileType(profile.spec?.profileType)) {
    return [deny(gate, 'builtin.profile.type', `profile type ${JSON.stringify(profile.spec?.profileType)} is unknown; nothing is allowed under it`)];
  }
  return BUILTIN_RULES.filter((r) => r.gate === gate && r.appliesTo(profile)).map((r) => {
    const outcome = safeCheck(r, profile, request);
    return outcome.allowed ? allow(gate, r.name, outcome.message) : deny(gate, r.name, outcome.message);
  });
}

// A malformed object (a field of the wrong type that slipped past validation) must deny, not crash the reconciler.
function safeCheck(r: BuiltinRule, profile: ProfileInput, request: PolicyRequest): Outcome {
  try {
    return r.check(profile, request);
  } catch (error) {
    return no(`rule failed on malformed input: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The rules in force, for status.effective.rules: `gate rule: sentence`. */
export function describeProfileRules(profile: ProfileInput): string[] {
  if (!isProfileType(profile.spec?.profileType)) return [`profile type ${JSON.stringify(profile.spec?.profileType)} is unknown: everything is denied`];
  const builtin = BUILTIN_RULES.filter((r) => r.appliesTo(profile)).map((r) => `${r.gate} ${r.name}: ${r.describe(profile)}`);
  const cel = (profile.spec.rules ?? []).map((r) => `${r.gate} ${celRuleName(r.name)}: ${r.message ?? r.expression}`);
  // status.effective.rules items are capped at 1024 characters.
  return [...builtin, ...cel].map((line) => clamp(line, 1024));
}
