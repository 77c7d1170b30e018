// Declared outputs outlive their containers: collected from the stopped container through the
// engine's archive API, bounded by localDiskBytes, stored as one OCI artifact per output in a
// real registry (Debian's docker-registry), promoted (or held provisional) by the profile's
// artifactAccess gate, restored byte for byte and only by who may read the execution; a
// registry that is down holds the record until it is back, nothing lost. Real podman, API
// server and registry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installApi, grantEditorRole, bindDelegatorRole, revokeEditorRole } from '../support/install.ts';
import { kubeconfigPath, kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { authority, createAs, createNamespace, eventually, getObject, suffix, testProfile } from '../support/objects.ts';
import { startRegistryService, type RegistryService } from '../../src/dev/registry-service.ts';
import { OciRegistry, sha256Digest } from '../../src/outputs/oci-registry.ts';
import { repositoryFor, STATE_ANNOTATION } from '../../src/outputs/output-store.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'am-outputs-'));
const id = suffix();
const PROFILE = `outputs-${id}`;
/** A firewall profile that admits only text and JSON outputs. */
const FIREWALL = `outputs-fw-${id}`;
const MiB = 1024 * 1024;
let ns = '';
let controller: ControllerProcess;
let registry: RegistryService;
let registryBin = '';

function execution(name: string, command: string, budget: object = {}, profile = PROFILE) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'LocalAgentExecution',
    metadata: { name, namespace: ns },
    spec: {
      profileRef: { name: profile },
      authority: authority('alice', ['agent_machine.execution.*', 'agent_machine.container.run']),
      containers: [{ name: 'agent', image: sandboxImage(), command: ['sh', '-c', command], outputs: [{ name: 'report', path: '/out' }] }],
      budget: { wallClockSeconds: 60, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 4 * MiB, cpuGpuComputeSeconds: 60, ...budget },
    },
  };
}

const recordOf = (name: string) => getObject<any>('ContainerExecutionRecord', `${name}-agent`, ns);
const finished = (name: string, timeoutMs = 60_000) =>
  eventually(`${name} finished`, async () => {
    const s = (await getObject<any>('LocalAgentExecution', name, ns))?.status;
    return ['Succeeded', 'Failed', 'Cancelled', 'Denied'].includes(s?.phase) ? s : undefined;
  }, timeoutMs);

/** The files of an output as the registry holds them: its layer is a tar of the path. */
async function restore(output: { digest: string; size: number; mediaType: string }, recordName: string): Promise<Map<string, Buffer>> {
  const blob = await new OciRegistry({ url: registry.url }).pullBlob(repositoryFor(ns, recordName), { digest: output.digest, size: output.size, mediaType: output.mediaType });
  const target = mkdtempSync(path.join(dir, 'restored-'));
  const tarPath = path.join(target, 'layer.tar');
  writeFileSync(tarPath, blob);
  execFileSync('tar', ['-xf', tarPath, '-C', target]);
  const files = new Map<string, Buffer>();
  for (const f of execFileSync('find', [target, '-type', 'f', '!', '-name', 'layer.tar'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean)) {
    files.set(path.relative(target, f), readFileSync(f));
  }
  return files;
}

before(async () => {
  registryBin = execFileSync('bash', [path.join(root, 'scripts/ensure-registry.sh')], { encoding: 'utf8' }).trim();
  registry = await startRegistryService({ binPath: registryBin, dataDir: path.join(dir, 'registry') });
  await installApi();
  ns = await createNamespace('outputs');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  assert.equal((await createAs('alice', testProfile(PROFILE, { images: { allowedRegistries: ['localhost'] } }))).code, 0);
  assert.equal((await createAs('alice', testProfile(FIREWALL, { profileType: 'corporate_firewall', images: { allowedRegistries: ['localhost'] }, outputs: { allowedMediaTypes: ['text/*', 'application/json'] } }))).code, 0);
  controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl'), args: ['--output-registry', registry.url] });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`, `agentmachineprofile/${FIREWALL}`]);
});

after(async () => {
  await kubectl(['delete', 'rolebinding', '-n', ns, 'outputs-reader-carol', '--ignore-not-found']).catch(() => undefined);
  await kubectl(['delete', 'role', '-n', ns, 'outputs-reader', '--ignore-not-found']).catch(() => undefined);
  await revokeEditorRole('alice');
  await controller?.kill('SIGTERM');
  await registry?.stop();
});

test('the outputs of a succeeded and of a failed run are stored and restored byte for byte', async (t) => {
  // The container prints the sha256 of what it wrote, so the test compares with its own view.
  const write = 'printf "issues: 3\\n" > /out/report.txt && dd if=/dev/urandom of=/out/data.bin bs=1024 count=512 2>/dev/null && mkdir /out/sub && echo nested > /out/sub/n.txt && sha256sum /out/data.bin';
  assert.equal((await createAs('alice', execution('ok', write))).code, 0);
  assert.equal((await createAs('alice', execution('fails', `${write}; exit 3`))).code, 0);
  for (const [name, phase] of [['ok', 'Succeeded'], ['fails', 'Failed']] as const) {
    const s = await finished(name);
    assert.equal(s.phase, phase, JSON.stringify(s.conditions));
    const rec = await recordOf(name);
    const [out] = rec.status.outputs;
    t.diagnostic(`${name}: ${JSON.stringify(out)}`);
    assert.deepEqual([out.name, out.stored, out.admitted, out.reason, out.rule], ['report', true, true, 'Admitted', 'artifactAccess']);
    assert.deepEqual(out.contentTypes, ['application/octet-stream', 'text/plain']);
    assert.match(out.digest, /^sha256:[0-9a-f]{64}$/);
    assert.match(out.reference, new RegExp(`^${registry.host.replace(/\./g, '\\.')}/agent-machine/${ns}/${name}-agent@sha256:[0-9a-f]{64}$`));
    const manifest = (await new OciRegistry({ url: registry.url }).pullManifest(repositoryFor(ns, `${name}-agent`), out.reference.split('@')[1])).manifest;
    assert.equal(manifest.annotations?.[STATE_ANNOTATION], 'admitted');
    const files = await restore(out, `${name}-agent`);
    assert.equal(files.get('report.txt')?.toString(), 'issues: 3\n');
    assert.equal(files.get('sub/n.txt')?.toString(), 'nested\n');
    const printed = /([0-9a-f]{64})\s+\/out\/data\.bin/.exec(rec.status.logTail)?.[1];
    assert.equal(sha256Digest(files.get('data.bin')!), `sha256:${printed}`, 'the bytes the container wrote');
  }
});

/** The real CLI as a user: exit code and output. */
function cli(user: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, 'bin/agent-machine.js'), ...args, '--kubeconfig', kubeconfigPath(user)], { cwd: root }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr }),
    );
  });
}

test('a firewall profile rule refuses an output type: the output is stored but stays provisional, with the rule and why', async () => {
  assert.equal((await createAs('alice', execution('fw-bin', 'echo ok > /out/report.txt && cp "$(command -v sh)" /out/tool', {}, FIREWALL))).code, 0);
  const s = await finished('fw-bin');
  assert.equal(s.phase, 'Succeeded', JSON.stringify(s.conditions));
  const [out] = (await recordOf('fw-bin')).status.outputs;
  assert.deepEqual([out.name, out.stored, out.admitted, out.reason, out.rule], ['report', true, false, 'PromotionRefused', 'builtin.outputs.media-types']);
  assert.ok(out.contentTypes.includes('application/x-executable'), out.contentTypes.join(','));
  assert.match(out.message, /output report holds \[application\/x-executable\], not among the allowed \[text\/\*, application\/json\]/);
  const manifest = (await new OciRegistry({ url: registry.url }).pullManifest(repositoryFor(ns, 'fw-bin-agent'), out.reference.split('@')[1])).manifest;
  assert.equal(manifest.annotations?.[STATE_ANNOTATION], 'provisional');
  // Text alone passes the same profile.
  assert.equal((await createAs('alice', execution('fw-text', 'echo ok > /out/report.txt && echo \'{"a":1}\' > /out/r.json', {}, FIREWALL))).code, 0);
  await finished('fw-text');
  const [text] = (await recordOf('fw-text')).status.outputs;
  assert.deepEqual([text.admitted, text.reason, text.contentTypes], [true, 'Admitted', ['application/json', 'text/plain']]);
});

test('agent-machine artifacts: alice fetches admitted outputs (digests verified) and provisional ones only with --provisional; who may not read them cannot fetch', async () => {
  const listed = await cli('alice', ['artifacts', 'list', 'ok', '-n', ns]);
  assert.equal(listed.code, 0, listed.err);
  assert.match(listed.out, /^agent\treport\tadmitted\tsha256:[0-9a-f]{64}\t\d+\t/m);
  const target = mkdtempSync(path.join(dir, 'cli-'));
  const got = await cli('alice', ['artifacts', 'get', 'ok', 'report', '-n', ns, '-o', target]);
  assert.equal(got.code, 0, got.err);
  assert.match(got.out, /agent\/report: admitted, 3 file\(s\), \d+ bytes, sha256:[0-9a-f]{64} verified/);
  assert.equal(readFileSync(path.join(target, 'agent', 'report', 'report.txt'), 'utf8'), 'issues: 3\n');
  assert.equal(readFileSync(path.join(target, 'agent', 'report', 'sub', 'n.txt'), 'utf8'), 'nested\n');

  const fwListed = await cli('alice', ['artifacts', 'list', 'fw-bin', '-n', ns]);
  assert.match(fwListed.out, /^agent\treport\tprovisional: PromotionRefused \(builtin\.outputs\.media-types\)\t/m);
  const fwTarget = mkdtempSync(path.join(dir, 'cli-fw-'));
  const refused = await cli('alice', ['artifacts', 'get', 'fw-bin', '-n', ns, '-o', fwTarget]);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /agent\/report: provisional, not admitted by artifactAccess \(PromotionRefused, builtin\.outputs\.media-types: .*\); --provisional fetches it anyway/);
  assert.equal(existsSync(path.join(fwTarget, 'agent')), false, 'nothing unpacked');
  const asked = await cli('alice', ['artifacts', 'get', 'fw-bin', '-n', ns, '-o', fwTarget, '--provisional']);
  assert.equal(asked.code, 0, asked.err);
  assert.match(asked.out, /agent\/report: provisional, 2 file\(s\)/);

  // bob may read nothing of agent-machine's; carol may read executions in this namespace but not
  // their container records. Neither gets a byte.
  await kubectl(['create', 'role', '-n', ns, 'outputs-reader', '--verb=get,list', '--resource=localagentexecutions.agentmachine.sourceos.dev']);
  await kubectl(['create', 'rolebinding', '-n', ns, 'outputs-reader-carol', '--role=outputs-reader', '--user=carol']);
  for (const [user, what] of [['bob', `localagentexecutions/ok`], ['carol', `containerexecutionrecords/ok-agent`]] as const) {
    const denied = mkdtempSync(path.join(dir, `cli-${user}-`));
    // The Role just made reaches the API server's authorizer in a moment; wait for that (cheap),
    // then ask the CLI once (a node process: seconds on a loaded machine).
    await eventually(`${user}'s RBAC as the test set it`, async () => {
      const can = async (what: string) => (await kubectl(['auth', 'can-i', 'get', what, '-n', ns], { user, check: false })).stdout.trim() === 'yes';
      return ((await can('localagentexecutions.agentmachine.sourceos.dev/ok')) === (user === 'carol') && !(await can('containerexecutionrecords.agentmachine.sourceos.dev/ok-agent'))) || undefined;
    }, 30_000);
    const r = await cli(user, ['artifacts', 'get', 'ok', '-n', ns, '-o', denied, '--provisional']);
    assert.ok(r.err.includes(what), r.err);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`you may not get ${what} in namespace "${ns}" \\(agentmachine\\.sourceos\\.dev\\): nothing was fetched`));
    assert.equal(existsSync(path.join(denied, 'agent')), false);
  }
});

test('an output over localDiskBytes is refused with a reason, never truncated; the run still ends', async () => {
  assert.equal((await createAs('alice', execution('too-big', 'dd if=/dev/zero of=/out/big bs=1024 count=3072 2>/dev/null', { localDiskBytes: 2 * MiB }))).code, 0);
  const s = await finished('too-big');
  assert.equal(s.phase, 'Succeeded');
  const [out] = (await recordOf('too-big')).status.outputs;
  assert.deepEqual([out.name, out.stored, out.admitted, out.reason, out.digest], ['report', false, false, 'OutputTooLarge', undefined]);
  assert.match(out.message, /larger than 2097152 bytes \(localDiskBytes\): refused, not truncated/);
});

test('the registry down when the container ends: the record waits (OutputsNotStored) and completes when it is back, nothing lost', async () => {
  const port = Number(new URL(registry.url).port);
  await registry.stop();
  assert.equal((await createAs('alice', execution('waits', 'echo kept > /out/kept.txt'))).code, 0);
  const waiting = await eventually('waiting for the registry', async () => {
    const r = await recordOf('waits');
    return r?.status?.conditions?.find((c: any) => c.type === 'Ready')?.reason === 'OutputsNotStored' ? r : undefined;
  }, 60_000);
  assert.notEqual(waiting.status.phase, 'Succeeded');
  const ex = await eventually('the execution shows it', async () => {
    const s = (await getObject<any>('LocalAgentExecution', 'waits', ns))?.status;
    return s?.conditions?.find((c: any) => c.type === 'Ready')?.reason === 'OutputsNotStored' ? s : undefined;
  });
  assert.equal(ex.phase, 'Running');
  registry = await startRegistryService({ binPath: registryBin, dataDir: path.join(dir, 'registry'), port });
  const s = await finished('waits');
  assert.equal(s.phase, 'Succeeded');
  const [out] = (await recordOf('waits')).status.outputs;
  assert.equal(out.admitted, true);
  assert.equal((await restore(out, 'waits-agent')).get('kept.txt')?.toString(), 'kept\n');
});

test('retention: deleting an execution keeps its admitted outputs; --output-retention deletes provisional ones, admitted ones stay', async () => {
  const client = new OciRegistry({ url: registry.url });
  const okOut = (await recordOf('ok')).status.outputs[0];
  const fwOut = (await recordOf('fw-bin')).status.outputs[0];
  const manifestOf = (o: { reference: string }, record: string) => client.pullManifest(repositoryFor(ns, record), o.reference.split('@')[1]!);
  await kubectl(['delete', 'localagentexecution', 'ok', '-n', ns, '--wait=true', '--timeout=60s']);
  await eventually('the record went with its execution', async () => ((await recordOf('ok')) ? undefined : true));
  assert.equal((await manifestOf(okOut, 'ok-agent')).manifest.annotations?.[STATE_ANNOTATION], 'admitted', 'kubectl delete does not delete admitted outputs');

  await controller.kill('SIGTERM');
  controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl'), args: ['--output-registry', registry.url, '--output-retention', '3s'] });
  const gone = await eventually('the provisional output deleted', async () => {
    try {
      await manifestOf(fwOut, 'fw-bin-agent');
      return undefined;
    } catch (err) {
      return (err as { status?: number }).status === 404 ? err : undefined;
    }
  }, 60_000);
  assert.match(String(gone), /404/);
  // The admitted outputs outlive the retention, the deleted execution's too.
  assert.equal((await manifestOf(okOut, 'ok-agent')).manifest.annotations?.[STATE_ANNOTATION], 'admitted');
  const fwText = (await recordOf('fw-text')).status.outputs[0];
  assert.equal((await manifestOf(fwText, 'fw-text-agent')).manifest.annotations?.[STATE_ANNOTATION], 'admitted');
  await assert.rejects(client.pullBlob(repositoryFor(ns, 'ok-agent'), { digest: 'sha256:' + '0'.repeat(64), size: 1, mediaType: '' }), /404/, 'the registry answers, so the 404 above was a deletion');
});
