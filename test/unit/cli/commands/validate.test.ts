// `agent-machine validate` offline: every invalid fixture (test/fixtures/invalid/) must be
// rejected with the API server's own wording (its `# expect:` line) at the line of the
// offending field, and examples/ must pass. Plus the parts a fixture does not exercise:
// multi-document files, Lists, folders, foreign objects, YAML errors, profile CEL rules that
// do not compile, and objects judged against a profile in the same set.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runValidate } from '../../../../src/cli/commands/validate.ts';
import { CrdRules } from '../../../../src/cli/validate/crd-rules.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const INVALID_DIR = path.join(ROOT, 'test/fixtures/invalid');
const EXAMPLES_DIR = path.join(ROOT, 'examples');
const BIN = path.join(ROOT, 'bin/agent-machine.js');
const FIXTURES = readdirSync(INVALID_DIR).filter((f) => f.endsWith('.yaml')).sort();

/**
 * Where each fixture's problem is, written by hand from the fixture: the text of the line
 * (trimmed) and which occurrence. A missing field is reported at the object that lacks it;
 * a rule on the whole object (metadata.name length) at the start of the document.
 */
const EXPECTED_LINE: Record<string, { text: string; nth?: number }> = {
  'binding-endpoint-with-credentials.yaml': { text: 'endpoint: https://user:pw@llm.example.com/v1' },
  'binding-missing-owner.yaml': { text: 'spec:' },
  'binding-unknown-provider.yaml': { text: 'provider: gemini' },
  'container-record-cpu-millis-too-low.yaml': { text: 'cpuMillis: 5' },
  'container-record-missing-container.yaml': { text: 'spec:' },
  'container-record-output-relative-path.yaml': { text: 'path: build/reports' },
  'diagnostics-missing-authority.yaml': { text: 'spec:' },
  'diagnostics-since-after-until.yaml': { text: 'spec:' },
  'execution-bad-expires-at.yaml': { text: 'expiresAt: next tuesday' },
  'execution-container-without-name.yaml': { text: '- image: localhost/agent-sandbox:dev' },
  'execution-delegator-with-space.yaml': { text: 'delegator: Alice Example' },
  'execution-duplicate-container-names.yaml': { text: '- name: agent', nth: 2 },
  'execution-duplicate-tools.yaml': { text: '- mcp.github', nth: 2 },
  'execution-empty-scopes.yaml': { text: 'scopes: []' },
  'execution-env-bad-name.yaml': { text: '- name: API-KEY' },
  'execution-env-value-and-value-from.yaml': { text: '- name: GITHUB_TOKEN' },
  'execution-invalid-image.yaml': { text: 'image: localhost/Agent-Sandbox:dev' },
  'execution-missing-authority.yaml': { text: 'spec:' },
  'execution-missing-delegator.yaml': { text: 'authority:' },
  'execution-name-too-long.yaml': { text: 'apiVersion: agentmachine.sourceos.dev/v1alpha1' },
  'execution-negative-budget.yaml': { text: 'tokens: -1' },
  'execution-profile-ref-not-a-name.yaml': { text: 'name: corporate_firewall' },
  'execution-purpose-object.yaml': { text: 'purpose:' },
  'execution-retries-over-maximum.yaml': { text: 'maxRetries: 11' },
  'execution-unknown-runtime.yaml': { text: 'runtime: containerd' },
  'execution-unknown-spec-field.yaml': { text: 'foo: bar' },
  'execution-workspace-path-traversal.yaml': { text: 'hostPath: /data/../etc' },
  'execution-zero-containers.yaml': { text: 'containers: []' },
  'grant-invalid-tool-name.yaml': { text: 'tool: GitHub Issues' },
  'grant-revoked-without-reason.yaml': { text: 'spec:' },
  'profile-airgapped-open-network.yaml': { text: 'spec:' },
  'profile-allowlist-without-egress.yaml': { text: 'spec:' },
  'profile-budget-ceiling-missing.yaml': { text: 'budgetCeilings:' },
  'profile-budget-over-maximum.yaml': { text: 'wallClockSeconds: 31536001' },
  'profile-budget-string-for-integer.yaml': { text: 'tokens: "20000000"' },
  'profile-egress-url-not-host.yaml': { text: '- https://github.com' },
  'profile-missing-authority.yaml': { text: 'spec:' },
  'profile-multi-corporate-without-tenants.yaml': { text: 'spec:' },
  'profile-name-too-long.yaml': { text: 'apiVersion: agentmachine.sourceos.dev/v1alpha1' },
  'profile-proxy-with-credentials.yaml': { text: 'proxy: http://svc-agents:hunter2@proxy.corp.example.com:3128' },
  'profile-rule-unknown-gate.yaml': { text: 'gate: containerRun' },
  'profile-unknown-profile-type.yaml': { text: 'profileType: corporate-firewall' },
};

function lineOfText(file: string, text: string, nth = 1): number {
  const lines = readFileSync(file, 'utf8').split('\n');
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === text && ++seen === nth) return i + 1;
  }
  throw new Error(`${path.basename(file)}: no line ${JSON.stringify(text)} (occurrence ${nth})`);
}

interface Run {
  code: number;
  out: string[];
  err: string[];
}

function validate(...targets: string[]): Run {
  const out: string[] = [];
  const err: string[] = [];
  const code = runValidate(targets, (l) => out.push(l), (l) => err.push(l));
  return { code, out, err };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const scratch = mkdtempSync(path.join(tmpdir(), 'am-validate-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function writeScratch(rel: string, text: string): string {
  const file = path.join(scratch, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

describe('test/fixtures/invalid/: every fixture fails offline, with the API server message, at its line', () => {
  test('every fixture has an expected line in this test', () => {
    assert.ok(FIXTURES.length >= 40, `only ${FIXTURES.length} fixtures`);
    assert.deepEqual(FIXTURES.filter((f) => !EXPECTED_LINE[f]), [], 'add the new fixtures to EXPECTED_LINE');
    assert.deepEqual(Object.keys(EXPECTED_LINE).filter((f) => !FIXTURES.includes(f)), [], 'EXPECTED_LINE names fixtures that are gone');
  });

  const caught: string[] = [];
  const apiServerWording: string[] = [];
  for (const name of FIXTURES) {
    test(name, () => {
      const file = path.join(INVALID_DIR, name);
      const text = readFileSync(file, 'utf8');
      const expect = /^# expect: (.+)$/m.exec(text)?.[1]?.trim();
      assert.ok(expect, `${name}: no # expect: line`);
      const r = validate(file);
      assert.equal(r.code, 1, `${name} passed offline validation:\n${r.out.join('\n')}`);
      assert.ok(r.err.length > 0);
      caught.push(name);
      for (const line of r.err) assert.ok(line.startsWith(`${file}:`), `not FILE:LINE: ${line}`);
      const wanted = EXPECTED_LINE[name]!;
      const expectedLine = lineOfText(file, wanted.text, wanted.nth);
      const matching = r.err.filter((l) => l.includes(expect));
      assert.ok(matching.length > 0, `${name}: no error says "${expect}":\n${r.err.join('\n')}`);
      apiServerWording.push(name);
      const line = Number(/^:(\d+): /.exec(matching[0]!.slice(file.length))?.[1]);
      assert.equal(line, expectedLine, `${name}: reported at line ${line}, the problem is at line ${expectedLine} (${wanted.text}):\n${matching[0]}`);
      // FILE:LINE: kind/name: message
      const kind = /^kind: (\w+)$/m.exec(text)?.[1]?.toLowerCase();
      const objectName = /^  name: (\S+)$/m.exec(text)?.[1];
      assert.ok(matching[0]!.startsWith(`${file}:${line}: ${kind}/${objectName}: `), matching[0]);
      assert.match(r.out.at(-1)!, /1 object\(s\) checked: 0 valid, 1 invalid/);
    });
  }

  test('figures: fixtures caught offline and with the API server wording', (t) => {
    t.diagnostic(`caught offline: ${caught.length}/${FIXTURES.length}; with the API server's expected message: ${apiServerWording.length}/${FIXTURES.length}`);
    assert.equal(caught.length, FIXTURES.length);
  });

  test('the whole folder through the real CLI: exit 1, one object per file invalid', async () => {
    const r = await cli(['validate', '-f', 'test/fixtures/invalid']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, new RegExp(`^${FIXTURES.length} file\\(s\\), ${FIXTURES.length} object\\(s\\) checked: 0 valid, ${FIXTURES.length} invalid, \\d+ error\\(s\\)`, 'm'));
    for (const name of FIXTURES) assert.match(r.stderr, new RegExp(`^test/fixtures/invalid/${name.replace('.', '\\.')}:\\d+: `, 'm'), name);
  });
});

describe('examples/', () => {
  test('every example is valid, also against the profiles among them (real CLI, exit 0)', async () => {
    const r = await cli(['validate', '-f', 'examples']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const count = readdirSync(EXAMPLES_DIR, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml')).length;
    assert.match(r.stdout, new RegExp(`^${count} file\\(s\\), ${count} object\\(s\\) checked: ${count} valid, 0 invalid, 0 error\\(s\\)`, 'm'));
    // Examples that revoke or cancel hit transition rules, which cannot be checked offline.
    assert.match(r.stdout, /transition rule check\(s\) \(oldSelf\) need the cluster/);
  });

  test('examples and fixtures together still fail, and the examples stay clean', () => {
    const r = validate(EXAMPLES_DIR, INVALID_DIR);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err.filter((l) => l.startsWith(EXAMPLES_DIR)), []);
  });
});

const PROFILE = (name: string, extra = '') => `apiVersion: agentmachine.sourceos.dev/v1alpha1
kind: AgentMachineProfile
metadata:
  name: ${name}
spec:
  profileType: personal
  authority: { delegator: alice, delegate: agent:a, scopes: [agent_machine.profile.create], expiresAt: "2030-01-01T00:00:00Z", purpose: test }
  budgetCeilings: { modelCalls: 1, tokens: 1, connectorCalls: 1, cpuGpuComputeSeconds: 60, localDiskBytes: 1048576, sandboxMemoryBytes: 67108864, wallClockSeconds: 60, agentConcurrency: 1 }
  network: { mode: none }
  images: { allowedRegistries: [localhost] }
${extra}`;

const EXECUTION = (name: string, opts: { profile?: string; image?: string; budget?: string } = {}) => `apiVersion: agentmachine.sourceos.dev/v1alpha1
kind: LocalAgentExecution
metadata:
  name: ${name}
  namespace: default
spec:
  profileRef:
    name: ${opts.profile ?? 'p'}
  authority: { delegator: alice, delegate: agent:a, scopes: [agent_machine.execution.start, agent_machine.container.run], expiresAt: "2030-01-01T00:00:00Z", purpose: test }
  containers:
    - name: agent
      image: ${opts.image ?? 'localhost/agent-sandbox:dev'}
      command: [sh, -c, "true"]
  budget:
    wallClockSeconds: ${opts.budget ?? '30'}
`;

describe('files, documents and lines', () => {
  test('multi-document file: each document checked, lines counted from the top of the file', () => {
    const file = writeScratch('multi.yaml', `# two objects\n${PROFILE('p')}---\n${EXECUTION('ok')}---\n${EXECUTION('bad-runtime').replace('  containers:', '  runtime: containerd\n  containers:')}---\n`);
    const r = validate(file);
    assert.equal(r.code, 1);
    assert.equal(r.err.length, 1, r.err.join('\n'));
    const expected = readFileSync(file, 'utf8').split('\n').findIndex((l) => l === '  runtime: containerd') + 1;
    assert.equal(r.err[0], `${file}:${expected}: localagentexecution/bad-runtime: spec.runtime: Unsupported value: "containerd": supported values: "docker", "kubernetes"`);
    assert.match(r.out[0]!, /^1 file\(s\), 3 object\(s\) checked: 2 valid, 1 invalid, 1 error\(s\)/);
  });

  test('folders are searched recursively for .yaml and .yml; other API groups are skipped; v1 Lists are opened', () => {
    const dir = path.join(scratch, 'tree');
    writeScratch('tree/a/profile.yml', PROFILE('p'));
    writeScratch('tree/a/b/ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: agents\n');
    writeScratch('tree/a/b/notes.txt', 'not: [yaml');
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } },
        { apiVersion: 'agentmachine.sourceos.dev/v1alpha1', kind: 'ToolGrantRecord', metadata: { name: 'g', namespace: 'default' }, spec: { profileRef: { name: 'p' }, tool: 'mcp.github', authority: { delegator: 'alice', delegate: 'agent:a', scopes: ['agent_machine.tool_grant.apply'], expiresAt: '2030-01-01T00:00:00Z', purpose: 'test' }, revoked: true } },
      ],
    };
    writeScratch('tree/list.yaml', JSON.stringify(list, null, 2));
    const r = validate(dir);
    assert.equal(r.code, 1);
    assert.equal(r.err.length, 1, r.err.join('\n'));
    assert.match(r.err[0]!, /list\.yaml:\d+: toolgrantrecord\/g: spec: Invalid value: "object": revocationReason is required when revoked is true$/);
    assert.match(r.out[0]!, /^3 file\(s\), 2 object\(s\) checked: 1 valid, 1 invalid, 1 error\(s\); 2 document\(s\) of other API groups skipped/);
  });

  test('YAML syntax errors and duplicate keys are errors with their line', () => {
    const file = writeScratch('broken.yaml', `${PROFILE('p')}---\nkind: [unclosed\n`);
    const dup = writeScratch('dup.yaml', PROFILE('p').replace('  profileType: personal', '  profileType: personal\n  profileType: personal'));
    const r = validate(file, dup);
    assert.equal(r.code, 1);
    assert.ok(r.err.some((l) => l.startsWith(`${file}:`) && /: yaml: /.test(l)), r.err.join('\n'));
    assert.ok(r.err.some((l) => l.startsWith(`${dup}:7: yaml: `) && /unique/i.test(l)), r.err.join('\n'));
  });

  test('values are read as kubectl reads them: unquoted timestamps stay strings, yes/on are booleans', () => {
    const unquoted = writeScratch('timestamps.yaml', PROFILE('p').replace('expiresAt: "2030-01-01T00:00:00Z"', 'expiresAt: 2030-01-01T00:00:00Z'));
    assert.equal(validate(unquoted).code, 0);
    const yes = writeScratch('yes.yaml', PROFILE('p').replace('network: { mode: none }', 'network: { mode: none }\n  images: { requireDigest: yes }').replace('  images: { allowedRegistries: [localhost] }\n', ''));
    assert.equal(validate(yes).code, 0, validate(yes).err.join('\n'));
  });

  test('a missing path is an error and exit 1', () => {
    const r = validate(path.join(scratch, 'nope.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.err[0]!, /nope\.yaml: no such file or directory/);
  });

  test('a wrong version of the group is an error, not skipped', () => {
    const file = writeScratch('v2.yaml', PROFILE('p').replace('v1alpha1', 'v2'));
    const r = validate(file);
    assert.equal(r.code, 1);
    assert.match(r.err[0]!, /v2\.yaml:1: agentmachineprofile\/p: apiVersion: Unsupported value: "agentmachine\.sourceos\.dev\/v2"/);
  });
});

describe('profiles and the objects that use them', () => {
  test('a profile CEL rule that does not compile is an error at its expression', () => {
    const file = writeScratch('bad-rule.yaml', PROFILE('p', `  rules:\n    - name: fine\n      gate: containerExecution\n      expression: "size(request.image) < 200"\n    - name: broken\n      gate: containerExecution\n      expression: "request.image.size( < 3"\n`));
    const r = validate(file);
    assert.equal(r.code, 1);
    assert.equal(r.err.length, 1, r.err.join('\n'));
    const line = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes('request.image.size( < 3')) + 1;
    assert.match(r.err[0]!, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}: agentmachineprofile/p: spec\\.rules\\[1\\]\\.expression: Invalid value: .*rule broken does not parse`));
  });

  test('an execution over its profile ceilings or from a registry it does not allow is an error; one the profile allows is not', () => {
    const file = writeScratch('policy.yaml', [PROFILE('p'), EXECUTION('fits'), EXECUTION('too-long', { budget: '3600' }), EXECUTION('elsewhere', { image: 'docker.io/library/busybox:1' })].join('---\n'));
    const r = validate(file);
    assert.equal(r.code, 1);
    assert.equal(r.err.filter((l) => l.includes('execution/fits')).length, 0, r.err.join('\n'));
    assert.ok(r.err.some((l) => /localagentexecution\/too-long: spec\.budget\.wallClockSeconds: Forbidden: profile p .*requested wallClockSeconds 3600 exceeds the profile ceiling 60/.test(l)), r.err.join('\n'));
    assert.ok(r.err.some((l) => /localagentexecution\/elsewhere: spec\.containers\[0\]: Forbidden: profile p .*containerExecution gate/.test(l)), r.err.join('\n'));
  });

  test('an execution may ask for a network mode narrower than its profile\'s, not a wider one; its memory is split over its containers', () => {
    const asking = (name: string, mode: string) => EXECUTION(name).replace('  containers:', `  network: { mode: ${mode} }\n  containers:`);
    const two = EXECUTION('two-small').replace('  budget:\n', '  budget:\n    sandboxMemoryBytes: 8388608\n').replace('      command: [sh, -c, "true"]\n', '      command: [sh, -c, "true"]\n    - name: second\n      image: localhost/agent-sandbox:dev\n');
    const file = writeScratch('network-request.yaml', [PROFILE('p').replace('network: { mode: none }', 'network: { mode: gateway-only }'), asking('narrower', 'none'), asking('wider', 'open'), two].join('---\n'));
    const r = validate(file);
    assert.equal(r.code, 1);
    assert.equal(r.err.filter((l) => l.includes('execution/narrower')).length, 0, r.err.join('\n'));
    assert.ok(r.err.some((l) => /localagentexecution\/wider: spec\.containers\[0\]: Forbidden: .*requested network mode open is more open than the profile's gateway-only/.test(l)), r.err.join('\n'));
    assert.ok(r.err.some((l) => /localagentexecution\/two-small: spec\.budget\.sandboxMemoryBytes: Forbidden: .*split over 2 containers is 4194304 bytes each/.test(l)), r.err.join('\n'));
  });

  test('a profile CEL rule is evaluated for the objects that use it', () => {
    const file = writeScratch('cel-policy.yaml', [PROFILE('p', `  rules:\n    - name: short-commands\n      gate: containerExecution\n      expression: "!has(request.command) || size(request.command) < 3"\n`), EXECUTION('long-command')].join('---\n'));
    const r = validate(file);
    assert.equal(r.code, 1);
    assert.ok(r.err.some((l) => /localagentexecution\/long-command: spec\.containers\[0\]: Forbidden: .*rule cel\.short-commands/.test(l)), r.err.join('\n'));
  });

  test('an object whose profile is not among the files is not judged against any profile', () => {
    const file = writeScratch('elsewhere.yaml', EXECUTION('elsewhere', { profile: 'in-the-cluster', image: 'docker.io/library/busybox:1', budget: '999999' }));
    assert.equal(validate(file).code, 0);
  });
});

describe('CRD rules offline', () => {
  test('every x-kubernetes-validations rule compiles offline; exactly the oldSelf ones are transition rules', () => {
    const rules = new CrdRules().inventory();
    assert.ok(rules.length >= 15, `${rules.length} rules`);
    assert.deepEqual(rules.filter((r) => r.compiled === 'uncheckable'), []);
    for (const r of rules) assert.equal(r.compiled === 'transition', /\boldSelf\b/.test(r.rule), r.rule);
    assert.equal(rules.filter((r) => r.compiled === 'transition').length, 5);
  });
});

describe('references and delegations the files alone can judge', () => {
  const profile = (name: string) => `apiVersion: agentmachine.sourceos.dev/v1alpha1
kind: AgentMachineProfile
metadata:
  name: ${name}
spec:
  profileType: personal
  authority:
    delegator: alice
    delegate: agent:x
    scopes: [agent_machine.profile.create]
    expiresAt: "2030-01-01T00:00:00Z"
    purpose: test
  budgetCeilings: { modelCalls: 10, tokens: 1000, connectorCalls: 10, cpuGpuComputeSeconds: 60, localDiskBytes: 1048576, sandboxMemoryBytes: 67108864, wallClockSeconds: 60, agentConcurrency: 1 }
  network: { mode: none }
`;
  const grant = (name: string, profileName: string, expiresAt: string, revoked = false) => `apiVersion: agentmachine.sourceos.dev/v1alpha1
kind: ToolGrantRecord
metadata:
  name: ${name}
  namespace: default
spec:
  profileRef:
    name: ${profileName}
  tool: mcp.github
${revoked ? '  revoked: true\n  revocationReason: done\n' : ''}  authority:
    delegator: alice
    delegate: agent:x
    scopes: [agent_machine.tool_grant.apply, "tool:mcp.github"]
    expiresAt: "${expiresAt}"
    purpose: test
`;

  test('a profile not among the files: a warning with the nearest name, not an error', () => {
    const file = writeScratch('refs/typo.yaml', `${profile('personal')}---\n${grant('gh', 'personel', '2030-01-01T00:00:00Z')}---\n${grant('far', 'prod', '2030-01-01T00:00:00Z')}`);
    const r = validate(file);
    assert.equal(r.code, 0, r.err.join('\n'));
    const lineOf = (text: string, nth = 1) => lineOfText(file, text, nth);
    assert.deepEqual(r.err, [
      `${file}:${lineOf('name: personel')}: toolgrantrecord/gh: warning: spec.profileRef.name: profile personel is not among the files (did you mean personal?); it must exist in the cluster, or this object waits (Pending, ProfileNotFound)`,
      `${file}:${lineOf('name: prod')}: toolgrantrecord/far: warning: spec.profileRef.name: profile prod is not among the files; it must exist in the cluster, or this object waits (Pending, ProfileNotFound)`,
    ]);
    assert.match(r.out.join('\n'), /; 2 warning\(s\)/);
  });

  test('a delegation already expired is an error at its expiresAt (a revoked grant is exempt)', () => {
    const file = writeScratch('refs/expired.yaml', `${profile('personal')}---\n${grant('old', 'personal', '2020-01-01T00:00:00Z')}---\n${grant('revoked', 'personal', '2020-01-01T00:00:00Z', true)}`);
    const r = validate(file);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [`${file}:${lineOfText(file, 'expiresAt: "2020-01-01T00:00:00Z"')}: toolgrantrecord/old: spec.authority.expiresAt: Invalid value: "2020-01-01T00:00:00Z": the delegation has expired (the object would be denied: AuthorityExpired); renew it`]);
    assert.match(r.out.join('\n'), /1 invalid, 1 error\(s\)/);
  });
});
