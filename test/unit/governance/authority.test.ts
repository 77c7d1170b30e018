import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorityHolds, checkAuthority, scopeCoversOperation, scopeCoversTool } from '../../../src/governance/authority.ts';
import { allAllowed, firstDenial } from '../../../src/governance/decision.ts';
import { authority } from './fixtures.ts';

const now = new Date('2029-06-01T12:00:00Z');

test('a missing authority is denied', () => {
  const decisions = checkAuthority(undefined, { operationType: 'agent_machine.execution.start', now });
  assert.equal(decisions.length, 1);
  assert.equal(decisions[0]?.allowed, false);
  assert.equal(decisions[0]?.rule, 'authority.missing');
  assert.equal(decisions[0]?.gate, 'authority');
});

test('a valid, covering, unexpired delegation is allowed', () => {
  const decisions = checkAuthority(authority(), { operationType: 'agent_machine.execution.start', now });
  assert.ok(allAllowed(decisions), JSON.stringify(decisions));
});

test('an expired delegation is denied with rule authority.expired', () => {
  const decisions = checkAuthority(authority({ expiresAt: '2029-06-01T11:59:59Z' }), { operationType: 'agent_machine.execution.start', now });
  const denial = firstDenial(decisions);
  assert.equal(denial?.rule, 'authority.expired');
  assert.match(denial?.message ?? '', /expired at 2029-06-01T11:59:59Z/);
});

test('a delegation expiring exactly now no longer holds', () => {
  const decisions = checkAuthority(authority({ expiresAt: '2029-06-01T12:00:00Z' }), { operationType: 'agent_machine.execution.start', now });
  assert.equal(firstDenial(decisions)?.rule, 'authority.expired');
});

test('offsets are honoured: 13:30+02:00 is 11:30Z, already past', () => {
  const decisions = checkAuthority(authority({ expiresAt: '2029-06-01T13:30:00+02:00' }), { operationType: 'agent_machine.execution.start', now });
  assert.equal(firstDenial(decisions)?.rule, 'authority.expired');
});

test('an unparseable or non-RFC 3339 expiresAt is denied', () => {
  for (const expiresAt of ['tomorrow', 'June 1, 2030', '2030-01-01', '']) {
    const denial = firstDenial(checkAuthority(authority({ expiresAt }), { operationType: 'agent_machine.execution.start', now }));
    assert.equal(denial?.rule, 'authority.expired', expiresAt);
    assert.match(denial?.message ?? '', /not an RFC 3339 time/);
  }
});

test('scopes not covering the operation type are denied, naming the operation and the scopes', () => {
  const decisions = checkAuthority(authority({ scopes: ['agent_machine.execution.start', 'tool:fs.read'] }), {
    operationType: 'agent_machine.tool_grant.apply',
    now,
  });
  const denial = firstDenial(decisions);
  assert.equal(denial?.rule, 'authority.scope');
  assert.equal(denial?.message, 'delegation does not cover agent_machine.tool_grant.apply: scopes are [agent_machine.execution.start, tool:fs.read]');
});

test('prefix wildcards cover operation types on a dot boundary only', () => {
  assert.ok(scopeCoversOperation('agent_machine.execution.*', 'agent_machine.execution.start'));
  assert.ok(scopeCoversOperation('agent_machine.execution.*', 'agent_machine.execution.cancel'));
  assert.ok(scopeCoversOperation('agent_machine.*', 'agent_machine.tool_grant.revoke'));
  assert.ok(!scopeCoversOperation('agent_machine.execution.*', 'agent_machine.tool_grant.apply'));
  assert.ok(!scopeCoversOperation('agent_machine.exec.*', 'agent_machine.execution.start'));
  assert.ok(!scopeCoversOperation('agent_machine.execution*', 'agent_machine.execution.start'));
  assert.ok(!scopeCoversOperation('*', 'agent_machine.execution.start'));
  assert.ok(!scopeCoversOperation('.*', 'agent_machine.execution.start'));
  assert.ok(!scopeCoversOperation('tool:*', 'agent_machine.execution.start'));
});

test('wildcard scopes allow through checkAuthority', () => {
  const decisions = checkAuthority(authority({ scopes: ['agent_machine.*'] }), { operationType: 'agent_machine.model_provider.bind', now });
  assert.ok(allAllowed(decisions));
  assert.match(decisions.find((d) => d.rule === 'authority.scope')?.message ?? '', /agent_machine\.\* covers agent_machine\.model_provider\.bind/);
});

test('tool scopes: exact, tool:* and tool:PREFIX*', () => {
  assert.ok(scopeCoversTool('tool:mcp.github/create_issue', 'mcp.github/create_issue'));
  assert.ok(!scopeCoversTool('tool:mcp.github/create_issue', 'mcp.github/delete_repo'));
  assert.ok(scopeCoversTool('tool:*', 'anything.at/all'));
  assert.ok(scopeCoversTool('tool:mcp.github/*', 'mcp.github/delete_repo'));
  assert.ok(!scopeCoversTool('tool:mcp.github/*', 'mcp.gitlab/create_issue'));
  assert.ok(!scopeCoversTool('agent_machine.*', 'mcp.github/create_issue'));
  assert.ok(!scopeCoversTool('mcp.github/create_issue', 'mcp.github/create_issue'));
});

test('each uncovered tool ref gets its own denial naming the tool', () => {
  const decisions = checkAuthority(authority({ scopes: ['agent_machine.tool_grant.apply', 'tool:fs.*'] }), {
    operationType: 'agent_machine.tool_grant.apply',
    toolRefs: ['fs.read', 'mcp.github/create_issue'],
    now,
  });
  const toolDecisions = decisions.filter((d) => d.rule === 'authority.tool-scope');
  assert.equal(toolDecisions.length, 2);
  assert.equal(toolDecisions[0]?.allowed, true);
  assert.equal(toolDecisions[1]?.allowed, false);
  assert.match(toolDecisions[1]?.message ?? '', /does not cover tool mcp\.github\/create_issue \(needs scope tool:mcp\.github\/create_issue\)/);
});

test('authorityHolds answers exactly what checkAuthority allows, across expiry, scopes and tools', () => {
  const authorities = [
    authority(),
    authority({ scopes: ['agent_machine.*', 'tool:fs.*'] }),
    authority({ scopes: ['agent_machine.execution.start', 'tool:*'] }),
    authority({ scopes: ['agent_machine.exec.*', 'tool:mcp.github/create_issue'] }),
    authority({ scopes: ['*', 7 as never, 'tool:fs.read'] }),
    authority({ scopes: 'agent_machine.execution.start' as never }),
    authority({ expiresAt: '2020-01-01T00:00:00Z' }),
    authority({ expiresAt: now.toISOString() }),
    authority({ expiresAt: 'March 7 2031' }),
    undefined,
  ];
  const requests = [
    { operationType: 'agent_machine.execution.start' as const, now },
    { operationType: 'agent_machine.execution.start' as const, toolRefs: ['fs.read'], now },
    { operationType: 'agent_machine.execution.start' as const, toolRefs: ['fs.read', 'mcp.github/create_issue'], now },
    { operationType: 'agent_machine.tool_grant.apply' as const, toolRefs: [], now },
  ];
  let held = 0;
  for (const a of authorities) {
    for (const r of requests) {
      const expected = firstDenial(checkAuthority(a, r)) === undefined;
      assert.equal(authorityHolds(a, r), expected, `${JSON.stringify(a)} ${JSON.stringify(r)}`);
      if (expected) held++;
    }
  }
  // Both answers occur: the comparison covers allows and denials.
  assert.ok(held > 0 && held < authorities.length * requests.length);
});
