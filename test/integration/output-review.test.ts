// Output review: a profile with outputs.requireReview holds every output provisional; only a
// reviewer proven by the admission policy, allowed `review` on containerexecutionrecords/outputs
// by RBAC and not the run's own delegator can admit one, and a profile rule's refusal still
// outranks the review. Real podman, API server (with the admission policy) and registry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installApi, grantEditorRole, bindDelegatorRole, revokeEditorRole } from '../support/install.ts';
import { kubeconfigPath, kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { authority, createAs, createNamespace, eventually, getObject, suffix, testProfile } from '../support/objects.ts';
import { startRegistryService, type RegistryService } from '../../src/dev/registry-service.ts';
import { OciRegistry } from '../../src/outputs/oci-registry.ts';
import { repositoryFor, REVIEWED_BY_ANNOTATION, STATE_ANNOTATION } from '../../src/outputs/output-store.ts';
import { REVIEW_ANNOTATION, REVIEWER_ANNOTATION } from '../../src/governance/output-review.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'am-review-'));
const PROFILE = `review-${suffix()}`;
const RECORD = 'held-agent';
const MiB = 1024 * 1024;
const auditLog = path.join(dir, 'audit.jsonl');
let ns = '';
let controller: ControllerProcess;
let registry: RegistryService;

function cli(user: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'bin/agent-machine.js'), ...args, '--kubeconfig', kubeconfigPath(user)], { cwd: root }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr }),
    );
  });
}

const record = () => getObject<any>('ContainerExecutionRecord', RECORD, ns);
const output = async (name: string) => (await record()).status.outputs.find((o: any) => o.name === name);
/** Writes a review as `user` with kubectl (not the CLI, which refuses earlier): admission sees that user. */
const annotateAs = (user: string, reviewer: string, review: object) =>
  kubectl(['annotate', '--overwrite', '-n', ns, 'containerexecutionrecord', RECORD, `${REVIEWER_ANNOTATION}=${reviewer}`, `${REVIEW_ANNOTATION}=${JSON.stringify(review)}`], { user, check: false });
const decided = (what: string, test: (r: any) => boolean) => eventually(what, async () => ((r) => (r && test(r) ? r : undefined))(await record()), 30_000);
const manifestOf = (reference: string) => new OciRegistry({ url: registry.url }).pullManifest(repositoryFor(ns, RECORD), reference.split('@')[1]!);

before(async () => {
  const registryBin = execFileSync('bash', [path.join(root, 'scripts/ensure-registry.sh')], { encoding: 'utf8' }).trim();
  registry = await startRegistryService({ binPath: registryBin, dataDir: path.join(dir, 'registry') });
  await installApi();
  ns = await createNamespace('review');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  // carol may read and patch container records here, but holds no review right.
  await kubectl(['create', 'role', '-n', ns, 'record-patcher', '--verb=get,list,patch', '--resource=containerexecutionrecords.agentmachine.sourceos.dev,localagentexecutions.agentmachine.sourceos.dev']);
  await kubectl(['create', 'rolebinding', '-n', ns, 'record-patcher-carol', '--role=record-patcher', '--user=carol']);
  const profile = testProfile(PROFILE, { profileType: 'corporate_firewall', images: { allowedRegistries: ['localhost'] }, outputs: { requireReview: true, allowedMediaTypes: ['text/*'] } });
  assert.equal((await createAs('alice', profile)).code, 0);
  controller = await startControllerProcess({ auditLogPath: auditLog, args: ['--output-registry', registry.url] });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`]);
  const execution = {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name: 'held', namespace: ns },
    spec: {
      profileRef: { name: PROFILE },
      authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run']),
      containers: [
        {
          name: 'agent',
          image: sandboxImage(),
          command: ['sh', '-c', 'mkdir -p /out/report /out/tool && printf "findings: 2\\n" > /out/report/r.txt && cp "$(command -v sh)" /out/tool/sh'],
          outputs: [
            { name: 'report', path: '/out/report' },
            { name: 'tool', path: '/out/tool' },
          ],
        },
      ],
      budget: { wallClockSeconds: 60, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 8 * MiB, cpuGpuComputeSeconds: 60 },
    },
  };
  assert.equal((await createAs('alice', execution)).code, 0);
  await eventually('held finished', async () => ['Succeeded', 'Failed'].includes((await getObject<any>('LocalAgentExecution', 'held', ns))?.status?.phase), 60_000);
});

after(async () => {
  await kubectl(['delete', 'rolebinding', '-n', ns, 'record-patcher-carol', 'output-reviewer-bob', '--ignore-not-found']).catch(() => undefined);
  await kubectl(['delete', 'role', '-n', ns, 'record-patcher', '--ignore-not-found']).catch(() => undefined);
  await revokeEditorRole('alice');
  await controller?.kill('SIGTERM');
  await registry?.stop();
});

test('a profile with requireReview holds the output provisional; a rule refuses the executable one outright', async () => {
  const report = await output('report');
  assert.deepEqual([report.stored, report.admitted, report.reason, report.rule], [true, false, 'ReviewRequired', 'builtin.outputs.review']);
  assert.equal((await manifestOf(report.reference)).manifest.annotations?.[STATE_ANNOTATION], 'provisional');
  const tool = await output('tool');
  assert.deepEqual([tool.admitted, tool.reason, tool.rule], [false, 'PromotionRefused', 'builtin.outputs.media-types']);
  const target = mkdtempSync(path.join(dir, 'before-'));
  const got = await cli('alice', ['artifacts', 'get', 'held', 'report', '-n', ns, '-o', target]);
  assert.equal(got.code, 1);
  assert.match(got.err, /provisional, not admitted by artifactAccess \(ReviewRequired/);
});

test('nobody can sign a review as someone else: the admission policy refuses it', async () => {
  const forged = await annotateAs('carol', 'bob', { admit: ['report'] });
  assert.notEqual(forged.code, 0);
  assert.match(forged.stderr, /annotation agentmachine\.sourceos\.dev\/output-reviewer must be the requesting user "carol" when the output review changes \(not "bob"\)/);
  assert.equal((await record()).metadata.annotations?.[REVIEW_ANNOTATION], undefined, 'nothing written');
});

test('a user without the review right is refused: by the CLI before writing, and by the controller when written anyway', async () => {
  const asked = await cli('carol', ['artifacts', 'review', 'held', '--admit', 'report', '-n', ns]);
  assert.equal(asked.code, 1);
  assert.match(asked.err, new RegExp(`you may not review containerexecutionrecords/outputs "${RECORD}" in namespace "${ns}" \\(agentmachine\\.sourceos\\.dev\\): nothing was written`));
  assert.equal((await annotateAs('carol', 'carol', { admit: ['report'] })).code, 0, 'she may patch the record, signing as herself');
  const r = await decided('carol refused', (rec) => rec.status?.outputReview?.reviewer === 'carol');
  assert.deepEqual([r.status.outputReview.outcome, r.status.outputReview.reason], ['Refused', 'ReviewPermissionDenied']);
  assert.match(r.status.outputReview.message, /user "carol" may not review containerexecutionrecords\/outputs "held-agent" in namespace/);
  assert.equal((await output('report')).admitted, false);
});

test('the delegator may not review their own run (separation of duties), whatever RBAC says', async () => {
  const asked = await cli('alice', ['artifacts', 'review', 'held', '--admit', 'report', '-n', ns]);
  assert.equal(asked.code, 1);
  assert.match(asked.err, /alice delegated this execution and may not review its outputs \(separation of duties: another reviewer must\): nothing was written/);
  assert.equal((await annotateAs('alice', 'alice', { admit: ['report'], at: 'x' })).code, 0);
  const r = await decided('alice refused', (rec) => rec.status?.outputReview?.reviewer === 'alice');
  assert.deepEqual([r.status.outputReview.outcome, r.status.outputReview.reason], ['Refused', 'SeparationOfDuties']);
  assert.equal((await output('report')).admitted, false);
});

test('a reviewer admits the output: admitted with who and when, re-stated in the registry, fetched without --provisional; a refusal still outranks a review', async () => {
  await kubectl(['create', 'rolebinding', '-n', ns, 'output-reviewer-bob', '--clusterrole=agent-machine-output-reviewer', '--user=bob']);
  const before = await output('report');
  const reviewed = await eventually('bob may review', async () => {
    const r = await cli('bob', ['artifacts', 'review', 'held', '--admit', 'report', '-n', ns]);
    return r.err.includes('you may not review') ? undefined : r;
  });
  assert.equal(reviewed.code, 0, reviewed.err);
  assert.match(reviewed.out, /^report\tadmitted\tReviewAdmitted \(builtin\.outputs\.review\)\t/m);
  const report = await output('report');
  assert.deepEqual([report.admitted, report.reason, report.reviewedBy, report.digest], [true, 'ReviewAdmitted', 'bob', before.digest]);
  assert.ok(Date.parse(report.reviewedAt) > 0);
  assert.notEqual(report.reference, before.reference, 'a new manifest: the annotation says admitted');
  const { manifest } = await manifestOf(report.reference);
  assert.deepEqual([manifest.annotations?.[STATE_ANNOTATION], manifest.annotations?.[REVIEWED_BY_ANNOTATION]], ['admitted', 'bob']);
  await assert.rejects(manifestOf(before.reference), /404/, 'the provisional manifest is gone');

  const target = mkdtempSync(path.join(dir, 'after-'));
  const got = await cli('alice', ['artifacts', 'get', 'held', 'report', '-n', ns, '-o', target]);
  assert.equal(got.code, 0, got.err);
  assert.equal(readFileSync(path.join(target, 'agent', 'report', 'r.txt'), 'utf8'), 'findings: 2\n');

  // The profile refuses the executable: no review admits it.
  const tool = await cli('bob', ['artifacts', 'review', 'held', '--admit', 'tool', '-n', ns]);
  assert.equal(tool.code, 1);
  assert.match(tool.out, /^tool\tprovisional\tPromotionRefused \(builtin\.outputs\.media-types\)\t/m);
  assert.match(tool.out, /tool: refused/);
  const refusedTarget = mkdtempSync(path.join(dir, 'tool-'));
  assert.equal((await cli('alice', ['artifacts', 'get', 'held', 'tool', '-n', ns, '-o', refusedTarget])).code, 1);
  assert.equal(existsSync(path.join(refusedTarget, 'agent')), false);

  // Each review is audited (actor: the reviewer) and announced as an Event; no credentials in either.
  const entries = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const reviews = entries.filter((e) => e.object?.name === RECORD && /output review by/.test(e.reason));
  assert.deepEqual(reviews.map((e) => [e.actor, e.outcome]), [['carol', 'denied'], ['alice', 'denied'], ['bob', 'allowed'], ['bob', 'denied']]);
  const events = await eventually('the review events', async () => {
    const items = JSON.parse((await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json'])).stdout).items.filter((e: any) => e.regarding?.name === RECORD);
    const reasons = new Set(items.map((e: any) => e.reason));
    return reasons.has('OutputReviewRefused') && reasons.has('OutputsReviewed') ? items : undefined;
  });
  assert.ok(events.some((e: any) => e.type === 'Warning' && /SeparationOfDuties|separation of duties/.test(e.note)));
  assert.doesNotMatch(JSON.stringify([reviews, events]), /password|token|Bearer|BEGIN [A-Z ]*PRIVATE KEY/i);
});
