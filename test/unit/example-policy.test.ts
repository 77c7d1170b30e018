// The examples are what users copy first: every example object must pass the policy (built-in
// rules and CEL rules) of the example profile it references, so a user following the README
// never starts from something the controller denies.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parse } from 'yaml';
import { yamlFilesUnder } from '../../src/cli/commands/validate.ts';
import { evaluatePolicy } from '../../src/governance/policy.ts';
import { CelSandbox } from '../../src/governance/cel-sandbox.ts';
import { containerRequests, modelProviderUseRequest, toolGrantRequest, type PolicyRequest } from '../../src/governance/requests.ts';
import type { ProfileInput } from '../../src/governance/profile-rules.ts';

// The CEL worker this file's evaluations run on: the test file owns it.
const sandbox = new CelSandbox();
after(() => sandbox.close());

const root = fileURLToPath(new URL('../../', import.meta.url));
const objects = yamlFilesUnder(path.join(root, 'examples')).map((file) => ({ file: path.relative(root, file), obj: parse(readFileSync(file, 'utf8')) as any }));
const profiles = new Map<string, ProfileInput>(objects.filter((o) => o.obj.kind === 'AgentMachineProfile').map((o) => [o.obj.metadata.name, o.obj]));

function requestsFor(obj: any): PolicyRequest[] {
  switch (obj.kind) {
    case 'ToolGrantRecord':
      return [toolGrantRequest(obj.spec)];
    case 'ModelProviderBinding':
      return [modelProviderUseRequest(obj.spec)];
    case 'LocalAgentExecution':
      return obj.spec.containers.flatMap((c: any) => containerRequests(c, obj.spec.tenant));
    case 'ContainerExecutionRecord':
      return containerRequests(obj.spec.container, obj.spec.tenant);
    default:
      return [];
  }
}

const governed = objects.filter((o) => o.obj.spec?.profileRef);

test('there are governed examples to check', () => {
  assert.ok(governed.length >= 8, `only ${governed.length}`);
});

for (const { file, obj } of governed) {
  test(`${file} passes the policy of profile ${obj.spec.profileRef.name}`, () => {
    const profile = profiles.get(obj.spec.profileRef.name);
    assert.ok(profile, `no example profile named ${obj.spec.profileRef.name}`);
    const requests = requestsFor(obj);
    for (const request of requests) {
      const result = evaluatePolicy(profile, request, { sandbox });
      const denied = result.decisions.filter((d) => !d.allowed);
      assert.ok(result.allowed, `${request.gate} denied: ${denied.map((d) => `${d.rule}: ${d.message}`).join('; ')}`);
    }
  });
}
