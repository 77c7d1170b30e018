// The API surface against a real kube-apiserver: the generated CRDs install and become
// Established, every example is accepted by a server-side dry run, and every invalid fixture
// is rejected with a message that names the offending field.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { kubectl } from '../support/integration-env.ts';
import { installApi, grantEditorRole } from '../support/install.ts';
import { yamlFilesUnder } from '../../src/cli/commands/validate.ts';
import { DEV_TENANT_NAMESPACE } from '../../src/dev/dev-environment.ts';
import { TENANT_LABEL } from '../../src/governance/tenancy.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = yamlFilesUnder(path.join(root, 'examples'));
const INVALID_DIR = path.join(root, 'test/fixtures/invalid');
const INVALID = readdirSync(INVALID_DIR).filter((f) => f.endsWith('.yaml')).sort();
// Objects are submitted as alice, the delegator the examples name, so the admission policy
// (installed or not by the time this file runs) has no say in what is checked here.
const USER = 'alice';

before(async () => {
  await installApi();
  await grantEditorRole(USER);
  // The tenant examples' namespace, labelled as make run labels it.
  const { name, tenant } = DEV_TENANT_NAMESPACE;
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { [TENANT_LABEL]: tenant } } }) });
});

test('the six CRDs are Established and `kubectl get agent-machine` answers', async () => {
  const { stdout } = await kubectl(['get', 'crd', '-l', 'app.kubernetes.io/part-of=agent-machine', '-o', 'name']);
  assert.equal(stdout.trim().split('\n').length, 6, stdout);
  const get = await kubectl(['get', 'agent-machine', '-A'], { user: USER });
  assert.equal(get.code, 0);
  const resources = await kubectl(['api-resources', '--categories=agent-machine', '-o', 'name']);
  assert.equal(resources.stdout.trim().split('\n').length, 6, resources.stdout);
});

test(`all ${EXAMPLES.length} examples pass a server-side dry-run create with strict field validation`, async () => {
  for (const file of EXAMPLES) {
    const result = await kubectl(['create', '--dry-run=server', '--validate=strict', '-o', 'name', '-f', file], {
      user: USER,
      check: false,
    });
    assert.equal(result.code, 0, `${path.relative(root, file)} rejected:\n${result.stderr}`);
  }
});

test(`all ${INVALID.length} invalid fixtures are rejected by the API server, naming the field`, async () => {
  assert.ok(INVALID.length >= 15);
  for (const name of INVALID) {
    const file = path.join(INVALID_DIR, name);
    const expect = /^# expect: (.+)$/m.exec(readFileSync(file, 'utf8'))?.[1]?.trim();
    assert.ok(expect, `${name}: no # expect: line`);
    const result = await kubectl(['create', '--dry-run=server', '--validate=strict', '-f', file], {
      user: USER,
      check: false,
    });
    assert.notEqual(result.code, 0, `${name} was accepted`);
    assert.ok(result.stderr.includes(expect), `${name}: expected "${expect}" in:\n${result.stderr}`);
  }
});
