import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalAgentExecution, ToolGrantRecord } from '../../../src/api/types.generated.ts';
import { deletionHeldMessage, profileHolders } from '../../../src/reconcilers/profile-in-use.ts';

const ex = (name: string, profile: string, phase?: string) => ({ metadata: { name, namespace: 'team-a' }, spec: { profileRef: { name: profile } }, ...(phase ? { status: { phase } } : {}) }) as unknown as LocalAgentExecution;
const grant = (name: string, profile: string, state?: string, revoked = false) => ({ metadata: { name, namespace: 'team-b' }, spec: { profileRef: { name: profile }, revoked }, ...(state ? { status: { state } } : {}) }) as unknown as ToolGrantRecord;

test('what holds a profile: running executions and Active grants under it, nothing else', () => {
  const holders = profileHolders(
    'personal',
    [ex('run', 'personal', 'Running'), ex('retry', 'personal', 'Retrying'), ex('queued', 'personal', 'Queued'), ex('waiting', 'personal', 'Pending'), ex('done', 'personal', 'Succeeded'), ex('fresh', 'personal'), ex('other', 'team', 'Running')],
    [grant('gh', 'personal', 'Active'), grant('revoking', 'personal', 'Active', true), grant('pending', 'personal', 'Pending'), grant('revoked', 'personal', 'Revoked'), grant('other', 'team', 'Active')],
  );
  assert.deepEqual(holders.map((h) => `${h.kind} ${h.namespace}/${h.name}`), ['LocalAgentExecution team-a/retry', 'LocalAgentExecution team-a/run', 'ToolGrantRecord team-b/gh']);
  assert.deepEqual(profileHolders('personal', [ex('done', 'personal', 'Failed')], [grant('x', 'personal', 'Expired')]), []);
});

test('the held message names the first holders and counts the rest', () => {
  const holders = Array.from({ length: 7 }, (_, i) => ({ kind: 'ToolGrantRecord' as const, namespace: 'ns', name: `g${i}` }));
  const m = deletionHeldMessage(holders);
  assert.match(m, /^deletion held: in use by ToolGrantRecord ns\/g0, ToolGrantRecord ns\/g1, ToolGrantRecord ns\/g2, ToolGrantRecord ns\/g3, ToolGrantRecord ns\/g4 \(and 2 more\); /);
  assert.doesNotMatch(deletionHeldMessage(holders.slice(0, 1)), /more/);
});
