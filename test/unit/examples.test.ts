// The user-facing examples (examples/**.yaml) and the invalid fixtures (test/fixtures/invalid/*.yaml)
// checked offline against contracts/ with the same ContractValidator `agent-machine validate` uses.
//
// Invalid fixtures carry header comments:
//   # expect: <substring>     what the API server's rejection must contain (used by integration tests)
//   # ajv: invalid|valid      whether ajv alone rejects the object. CEL rules (x-kubernetes-validations),
//                             list-type set/map uniqueness and metadata.name length are enforced only by
//                             the API server, so those fixtures are `ajv: valid`: asserting that keeps
//                             them otherwise well-formed, which matters because the API server skips CEL
//                             rules when an object already has type/required/enum errors.
//   # ajv-path: <pointer>     (ajv: invalid only) the JSON pointer every ajv issue must be at, so each
//                             fixture has exactly the one problem it is named for.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '../support/yaml.ts';
import { ContractValidator, type ValidationResult } from '../../src/api/validation.ts';
import { loadKindContracts, readSchemaFile, COMMON_SCHEMA_FILE } from '../../src/api/contracts.ts';
import { API_VERSION, KINDS, type KindName } from '../../src/api/group.ts';
import { DEV_TENANT_NAMESPACE } from '../../src/dev/dev-environment.ts';
import type {
  AgentMachineDiagnosticBundle,
  AgentMachineProfile,
  ContainerExecutionRecord,
  ContainerSpec,
  LocalAgentExecution,
  ModelProviderBinding,
  ToolGrantRecord,
} from '../../src/api/types.generated.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES_DIR = path.join(ROOT, 'examples');
const INVALID_DIR = path.join(ROOT, 'test/fixtures/invalid');
const SANDBOX_IMAGE = 'localhost/agent-sandbox:dev';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

// Built on first use, so that if the contracts fail to compile only the tests that validate fail,
// each with the compile error, while the structural checks still report.
let validatorInstance: ContractValidator | undefined;
function validate(object: unknown): ValidationResult {
  validatorInstance ??= new ContractValidator();
  return validatorInstance.validate(object);
}
const scopeOf = new Map(loadKindContracts().map((c) => [c.kind, c.crd.scope] as const));
const commonDefs = readSchemaFile(COMMON_SCHEMA_FILE)['$defs'] as Record<string, { enum?: string[] }>;
const PROFILE_TYPES = commonDefs['profileType']?.enum ?? [];

interface KubeObject {
  apiVersion: string;
  kind: KindName;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

interface YamlFile {
  /** path relative to the repository root */
  rel: string;
  text: string;
  docs: unknown[];
}

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .map((f) => path.join(dir, f))
    .sort();
}

// The core schema plus timestamps: an unquoted timestamp becomes a Date and fails validation,
// which is what we want (kubectl would send a string, ajv would not), so examples quote them.
function readYaml(file: string): YamlFile {
  const text = readFileSync(file, 'utf8');
  const docs = loadAllYaml(text, { customTags: ['timestamp'] }).filter((d) => d !== null && d !== undefined);
  return { rel: path.relative(ROOT, file), text, docs };
}

function describeIssues(result: ValidationResult): string {
  return result.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
}

function single(file: YamlFile): KubeObject {
  assert.equal(file.docs.length, 1, `${file.rel}: expected exactly one object, found ${file.docs.length}`);
  return file.docs[0] as KubeObject;
}

/** host[:port] of an endpoint URL, lower-cased, port only when explicit. */
function hostOf(url: string): string {
  return new URL(url).host.toLowerCase();
}

/** A host[:port] against allowlist entries (exact, or *.suffix for subdomains). */
function hostAllowed(host: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) =>
    entry.startsWith('*.') ? host.endsWith(entry.slice(1)) && host.length > entry.length - 1 : host === entry,
  );
}

/** An image against allowedRegistries entries (a registry host, optionally with a path prefix). */
function imageAllowed(image: string, registries: readonly string[]): boolean {
  return registries.some((r) => image.startsWith(`${r}/`));
}

// ---------------------------------------------------------------------------------------------
// examples/
// ---------------------------------------------------------------------------------------------

const exampleFiles = yamlFilesUnder(EXAMPLES_DIR).map(readYaml);

describe('examples/', () => {
  test('there are examples', () => {
    assert.ok(exampleFiles.length > 0, 'no YAML under examples/');
  });

  for (const file of exampleFiles) {
    test(`${file.rel} is one valid object with a leading comment`, () => {
      assert.match(file.text, /^#\s*\S/, `${file.rel}: start with a short comment saying what it shows`);
      const object = single(file);
      const result = validate(object);
      assert.ok(result.valid, `${file.rel} does not validate:\n${describeIssues(result)}`);

      const { name, namespace } = object.metadata;
      assert.match(name, DNS_LABEL, `${file.rel}: metadata.name must be a DNS-1123 label`);
      assert.ok(name.length <= 63, `${file.rel}: metadata.name longer than 63 characters`);
      if (scopeOf.get(object.kind) === 'Cluster') {
        assert.equal(namespace, undefined, `${file.rel}: ${object.kind} is cluster-scoped: no metadata.namespace`);
      } else {
        const tenantNamespace = (object as { spec?: { tenant?: string } }).spec?.tenant !== undefined;
        // Only a namespace labelled with the tenant may hold its objects; `make run` makes this one.
        if (tenantNamespace) assert.equal(namespace, DEV_TENANT_NAMESPACE.name, `${file.rel}: a tenant's objects live in ${DEV_TENANT_NAMESPACE.name}`);
        else assert.equal(namespace, 'default', `${file.rel}: namespaced examples use metadata.namespace default`);
      }
    });
  }

  const objects = exampleFiles.map((f) => ({ rel: f.rel, object: f.docs[0] as KubeObject }));
  const ofKind = <T>(kind: KindName): Array<{ rel: string; object: T }> =>
    objects.filter((o) => o.object?.kind === kind) as unknown as Array<{ rel: string; object: T }>;

  test('every kind has at least one example', () => {
    for (const kind of KINDS) {
      assert.ok(ofKind(kind).length > 0, `no example of ${kind}`);
    }
  });

  test('exactly seven profile examples, one per profile type, named after it', () => {
    assert.equal(PROFILE_TYPES.length, 7, 'contracts/common.schema.json lists seven profile types');
    const profiles = ofKind<AgentMachineProfile>('AgentMachineProfile');
    assert.ok(
      profiles.every((p) => p.rel.startsWith('examples/profiles/')),
      'profiles live in examples/profiles/',
    );
    const files = yamlFilesUnder(path.join(EXAMPLES_DIR, 'profiles'));
    assert.equal(files.length, 7, `examples/profiles/ holds ${files.length} files, expected 7`);
    assert.equal(profiles.length, 7, `${profiles.length} AgentMachineProfile examples, expected 7`);
    assert.deepEqual(profiles.map((p) => p.object.spec.profileType).sort(), [...PROFILE_TYPES].sort());
    for (const { rel, object } of profiles) {
      const dashed = object.spec.profileType.replaceAll('_', '-');
      assert.equal(path.basename(rel), `${dashed}.yaml`, `${rel}: file name follows the profile type`);
      assert.equal(object.metadata.name, dashed, `${rel}: metadata.name follows the profile type`);
    }
  });

  test('profiles use the fields their type calls for', () => {
    const byType = new Map(ofKind<AgentMachineProfile>('AgentMachineProfile').map((p) => [p.object.spec.profileType, p.object.spec]));
    const airgapped = byType.get('airgapped_local_only');
    assert.equal(airgapped?.network?.mode, 'none');
    for (const type of ['corporate_firewall', 'multi_corporate_firewall'] as const) {
      const spec = byType.get(type);
      assert.equal(spec?.network?.mode, 'allowlist', `${type}: allowlist egress`);
      assert.ok(spec?.network?.proxy, `${type}: egress via a proxy`);
      assert.ok((spec?.network?.egressAllowlist ?? []).length > 0, `${type}: a non-empty egress allowlist`);
      assert.ok((spec?.images?.allowedRegistries ?? []).length > 0, `${type}: allowed registries`);
    }
    assert.ok((byType.get('multi_corporate_firewall')?.tenants ?? []).length > 0, 'multi-corporate lists tenants');
    for (const [type, spec] of byType) {
      if (spec.network?.mode === 'open') assert.equal(type, 'personal', 'only personal profiles are open');
    }
    const local = byType.get('local_model_provider')?.modelProviders?.allowedHosts ?? [];
    assert.ok(local.length > 0 && local.every((h) => /^(127\.0\.0\.1|localhost)(:|$)|\.svc\.cluster\.local(:|$)/.test(h)),
      `local_model_provider allows only loopback or cluster-local hosts: ${local.join(', ')}`);
    assert.ok((byType.get('hosted_model_provider')?.modelProviders?.allowedHosts ?? []).includes('api.openai.com'));
    const withRules = [...byType.values()].filter((s) => (s.rules ?? []).length > 0);
    assert.ok(withRules.length >= 2, 'some profiles carry CEL rules');
    for (const spec of withRules) {
      for (const rule of spec.rules ?? []) assert.match(rule.expression, /\brequest\./, `rule ${rule.name} reads request`);
    }
  });

  test('the personal, airgapped and corporate firewall profiles accept the local sandbox image', () => {
    for (const name of ['personal', 'airgapped-local-only', 'corporate-firewall']) {
      const profile = ofKind<AgentMachineProfile>('AgentMachineProfile').find((p) => p.object.metadata.name === name);
      assert.ok(profile, `profile ${name}`);
      const images = profile.object.spec.images;
      assert.notEqual(images?.requireDigest, true, `${name}: requireDigest must be false for ${SANDBOX_IMAGE}`);
      assert.ok(imageAllowed(SANDBOX_IMAGE, images?.allowedRegistries ?? []), `${name}: allows ${SANDBOX_IMAGE}`);
    }
  });

  test('hello-agent runs the sandbox image under the personal profile', () => {
    const hello = ofKind<LocalAgentExecution>('LocalAgentExecution').find((e) => e.rel === 'examples/executions/hello-agent.yaml');
    assert.ok(hello, 'examples/executions/hello-agent.yaml');
    const { metadata, spec } = hello.object;
    assert.equal(metadata.name, 'hello-agent');
    assert.equal(metadata.namespace, 'default');
    assert.equal(spec.profileRef.name, 'personal');
    assert.equal(spec.authority.delegator, 'alice');
    assert.ok(Date.parse(spec.authority.expiresAt) > Date.parse('2030-01-01T00:00:00Z') - 1);
    assert.equal(spec.containers.length, 1);
    assert.equal(spec.containers[0]?.image, SANDBOX_IMAGE);
    assert.deepEqual(spec.containers[0]?.command, ['sh', '-c', 'echo hello from an agent']);
  });

  test('model provider examples: a loopback local binding and a hosted one with a credentials Secret', () => {
    const bindings = ofKind<ModelProviderBinding>('ModelProviderBinding').map((b) => b.object.spec);
    assert.ok(bindings.some((b) => hostOf(b.endpoint).startsWith('127.0.0.1:') && !b.credentialsSecretRef));
    assert.ok(bindings.some((b) => b.endpoint.startsWith('https://') && b.credentialsSecretRef));
  });

  // The examples are meant to be applied together: references resolve and satisfy the profile's
  // registry, digest, host and tenant rules, so a reconciler would not deny them.
  test('examples reference each other consistently and fit their profiles', () => {
    const profiles = new Map(ofKind<AgentMachineProfile>('AgentMachineProfile').map((p) => [p.object.metadata.name, p.object.spec]));
    const bindings = new Map(ofKind<ModelProviderBinding>('ModelProviderBinding').map((b) => [b.object.metadata.name, b.object.spec]));
    const grants = ofKind<ToolGrantRecord>('ToolGrantRecord').map((g) => g.object.spec);

    const profileFor = (rel: string, spec: Record<string, unknown>) => {
      const ref = (spec['profileRef'] as { name: string } | undefined)?.name;
      const profile = ref === undefined ? undefined : profiles.get(ref);
      assert.ok(profile, `${rel}: profileRef ${String(ref)} is not an example profile`);
      return profile;
    };
    const checkTenant = (rel: string, profile: AgentMachineProfile['spec'], tenant: unknown) => {
      if (profile.profileType === 'multi_corporate_firewall') {
        assert.ok(typeof tenant === 'string' && (profile.tenants ?? []).includes(tenant), `${rel}: names one of the profile's tenants`);
      }
    };
    const checkContainer = (rel: string, profile: AgentMachineProfile['spec'], container: ContainerSpec) => {
      assert.ok(imageAllowed(container.image, profile.images?.allowedRegistries ?? []), `${rel}: ${container.image} not from an allowed registry`);
      if (profile.images?.requireDigest) assert.match(container.image, /@sha256:[a-f0-9]{64}$/, `${rel}: profile requires a digest`);
    };

    const executions = new Set(ofKind<LocalAgentExecution>('LocalAgentExecution').map((e) => e.object.metadata.name));
    for (const { rel, object } of objects) {
      if (object.kind === 'AgentMachineProfile') continue;
      if (object.kind === 'AgentMachineDiagnosticBundle') {
        // Bundles are not profile-bound; the executions they scope to must exist.
        const scope = (object as unknown as AgentMachineDiagnosticBundle).spec.scope;
        for (const name of scope?.executions ?? []) assert.ok(executions.has(name), `${rel}: execution ${name} is not an example`);
        continue;
      }
      const profile = profileFor(rel, object.spec);
      checkTenant(rel, profile, object.spec['tenant']);
      if (object.kind === 'LocalAgentExecution') {
        const spec = (object as unknown as LocalAgentExecution).spec;
        for (const container of spec.containers) checkContainer(rel, profile, container);
        if (spec.modelProviderRef) {
          const binding = bindings.get(spec.modelProviderRef.name);
          assert.ok(binding, `${rel}: modelProviderRef ${spec.modelProviderRef.name} is not an example binding`);
          assert.equal(binding.profileRef.name, spec.profileRef.name, `${rel}: binding under the same profile`);
        }
        for (const tool of spec.tools ?? []) {
          assert.ok(
            grants.some((g) => g.tool === tool && !g.revoked && g.profileRef.name === spec.profileRef.name && g.authority.delegate === spec.authority.delegate),
            `${rel}: tool ${tool} has no unrevoked grant for ${spec.authority.delegate} under ${spec.profileRef.name}`,
          );
        }
      }
      if (object.kind === 'ContainerExecutionRecord') {
        checkContainer(rel, profile, (object as unknown as ContainerExecutionRecord).spec.container);
      }
      if (object.kind === 'ModelProviderBinding') {
        const spec = (object as unknown as ModelProviderBinding).spec;
        const host = hostOf(spec.endpoint);
        assert.ok(hostAllowed(host, profile.modelProviders?.allowedHosts ?? []), `${rel}: ${host} not in the profile's allowedHosts`);
        if (profile.profileType === 'user_owned_model') assert.equal(spec.owner, spec.authority.delegator, `${rel}: owner is the delegator`);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// test/fixtures/invalid/
// ---------------------------------------------------------------------------------------------

interface InvalidFixture extends YamlFile {
  expect: string;
  ajv: 'valid' | 'invalid';
  ajvPath?: string;
}

function readFixture(file: string): InvalidFixture {
  const parsed = readYaml(file);
  const header = (key: string): string[] =>
    [...parsed.text.matchAll(new RegExp(`^#\\s*${key}:(.*)$`, 'gm'))].map((m) => (m[1] ?? '').trim());
  const expects = header('expect');
  const ajvs = header('ajv');
  const ajvPaths = header('ajv-path');
  assert.equal(expects.length, 1, `${parsed.rel}: needs exactly one '# expect: <substring>' line`);
  assert.ok(expects[0], `${parsed.rel}: empty '# expect:' substring`);
  assert.equal(ajvs.length, 1, `${parsed.rel}: needs exactly one '# ajv: valid|invalid' line`);
  assert.ok(ajvs[0] === 'valid' || ajvs[0] === 'invalid', `${parsed.rel}: '# ajv:' must be valid or invalid`);
  assert.ok(ajvPaths.length <= 1, `${parsed.rel}: at most one '# ajv-path:' line`);
  return { ...parsed, expect: expects[0], ajv: ajvs[0], ajvPath: ajvPaths[0] };
}

const fixtureFiles = yamlFilesUnder(INVALID_DIR);

describe('test/fixtures/invalid/', () => {
  test('there are at least 20 invalid fixtures covering every kind', () => {
    assert.ok(fixtureFiles.length >= 20, `only ${fixtureFiles.length} invalid fixtures`);
    const kinds = new Set(fixtureFiles.map((f) => (readYaml(f).docs[0] as KubeObject | undefined)?.kind));
    for (const kind of KINDS) assert.ok(kinds.has(kind), `no invalid fixture of ${kind}`);
  });

  test('every fixture starts with its # expect: line', () => {
    for (const file of fixtureFiles) {
      const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
      assert.match(first, /^# expect: \S/, `${path.relative(ROOT, file)}: first line must be '# expect: <substring>'`);
    }
  });

  for (const file of fixtureFiles) {
    const rel = path.relative(ROOT, file);
    test(`${rel}: ajv says ${readFileSync(file, 'utf8').match(/^#\s*ajv:\s*(\w+)/m)?.[1] ?? '?'}`, () => {
      const fixture = readFixture(file);
      const object = single(fixture);
      // The object must reach the API server's schema validation: right group, a known kind, a name
      // the server accepts, and a namespace for namespaced kinds.
      assert.equal(object.apiVersion, API_VERSION, `${rel}: apiVersion`);
      assert.ok(KINDS.includes(object.kind), `${rel}: unknown kind ${String(object.kind)}`);
      assert.ok(object.metadata.name.length <= 253 && DNS_SUBDOMAIN.test(object.metadata.name), `${rel}: metadata.name must pass the server's own name check`);
      if (scopeOf.get(object.kind) === 'Namespaced') assert.equal(object.metadata.namespace, 'default', `${rel}: namespace default`);
      else assert.equal(object.metadata.namespace, undefined, `${rel}: cluster-scoped, no namespace`);

      const result = validate(object);
      if (fixture.ajv === 'valid') {
        assert.equal(fixture.ajvPath, undefined, `${rel}: '# ajv-path:' only goes with '# ajv: invalid'`);
        assert.ok(result.valid, `${rel} is marked 'ajv: valid' (API-server-only rule) but ajv rejects it:\n${describeIssues(result)}`);
      } else {
        assert.equal(result.valid, false, `${rel} is marked 'ajv: invalid' but ajv accepts it`);
        assert.ok(fixture.ajvPath, `${rel}: '# ajv: invalid' needs '# ajv-path: <JSON pointer>'`);
        for (const issue of result.issues) {
          assert.equal(issue.path, fixture.ajvPath, `${rel}: an unintended problem:\n${describeIssues(result)}`);
        }
      }
    });
  }
});
