// resolveWorkspace on a real filesystem: symlinks are followed to where they lead, so the
// host-path rule judges the real folder, and a path that does not resolve is reported.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveWorkspace } from '../../../src/reconcilers/workspace-path.ts';
import { artifactAccessRequest } from '../../../src/governance/requests.ts';
import { evaluateBuiltinRules } from '../../../src/governance/profile-rules.ts';
import { profile } from '../governance/fixtures.ts';

const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'am-workspace-')));
after(() => rmSync(dir, { recursive: true, force: true }));
const container = (hostPath: string) => ({ image: 'localhost/x', workspace: { hostPath } });

test('a symlink to /etc resolves to /etc, and the host-path rule denies it', async () => {
  const link = path.join(dir, 'innocent');
  symlinkSync('/etc', link);
  const resolution = await resolveWorkspace(container(link), 'docker');
  assert.deepEqual(resolution, { resolvedHostPath: '/etc' });
  const decisions = evaluateBuiltinRules(profile('personal'), artifactAccessRequest(container(link), undefined, resolution));
  const denial = decisions.find((d) => d.rule === 'builtin.artifacts.host-path');
  assert.equal(denial?.allowed, false);
  assert.match(denial!.message, new RegExp(`${link} resolves to /etc: host path /etc is inside /etc`));
});

test('a chain of links through a parent folder is resolved too', async () => {
  mkdirSync(path.join(dir, 'real', 'project'), { recursive: true });
  symlinkSync(path.join(dir, 'real'), path.join(dir, 'via'));
  const resolution = await resolveWorkspace(container(path.join(dir, 'via', 'project')), 'docker');
  assert.deepEqual(resolution, { resolvedHostPath: path.join(dir, 'real', 'project') });
  const decisions = evaluateBuiltinRules(profile('personal'), artifactAccessRequest(container(path.join(dir, 'via', 'project')), undefined, resolution));
  assert.ok(decisions.every((d) => d.allowed), JSON.stringify(decisions));
});

test('a missing path is reported, and denied; nothing to resolve without a workspace or on Pods', async () => {
  const missing = await resolveWorkspace(container(path.join(dir, 'nope')), 'docker');
  assert.deepEqual(missing, { hostPathError: 'it does not exist on this host' });
  const decisions = evaluateBuiltinRules(profile('personal'), artifactAccessRequest(container(path.join(dir, 'nope')), undefined, missing));
  assert.equal(decisions.find((d) => d.rule === 'builtin.artifacts.host-path')?.allowed, false);
  assert.equal(await resolveWorkspace({ image: 'localhost/x' }, 'docker'), undefined);
  assert.equal(await resolveWorkspace(container('/etc-link-on-a-node'), 'kubernetes'), undefined);
});
