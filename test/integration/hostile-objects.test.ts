// Hostile input, end to end: the corpus in test/fixtures/hostile/ (wrong types, megabyte
// strings and huge arrays, unicode tricks, path traversal and symlinked mounts, privileged and
// host-namespace requests, odd image references, CEL rules that do not compile, fail or take
// too long, duplicates, budgets, expiries, delegators) applied through the API server as alice,
// and hostile runtime output (20 MB of binary, terminal escapes, NULs, megabyte lines) from a
// real podman container — against the real controller CLI. Every object must be rejected at
// admission with a clear message or accepted and Denied with a clear condition; meanwhile the
// controller keeps reconciling ordinary objects, never crashes, never logs a reconcile error,
// and its status writes and memory stay bounded.
//
// Fixture format (one file per case, the expectation in its header):
//   # expect: admission: <substring of the API server's message>
//   # expect: denied: <Ready condition reason>       (phase Denied, or Invalid for profiles)
//   # expect: held: <Ready condition reason>         (phase Pending: waits for what is missing)
//   # message: <substring of the Ready condition's message>  (denied cases)
//   # inflate: <json-pointer> string <n> <char>                 the field becomes n chars
//   # inflate: <json-pointer> array <n> <json item, {i} = index> the field becomes n items
//   # inflate: <json-pointer> strings <n> <length> <char>        n strings "<i>-<length chars>"
//   # symlink: <path> -> <target>                                created before, removed after
//   # absent: <path>                                              must not exist, before or after
//   # folder: <path>                                              created (with parents) if missing, removed after if created
//   # setup-phase: <phase>                                       setup profiles end so (default Ready)
// Several YAML documents: the last is the case, the earlier ones are set-up it needs (created
// first, AlreadyExists is fine). Namespaced objects go to this file's namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '../support/yaml.ts';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { kubectl } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { admin, authority, createNamespace, eventually, getObject, suffix, testProfile, testExecution } from '../support/objects.ts';
import { collectionPath, createObjectAs, type ApiAnswer } from '../support/api-as.ts';
import type { KindName } from '../../src/api/group.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = path.join(root, 'test/fixtures/hostile');
const dir = mkdtempSync(path.join(tmpdir(), 'am-hostile-'));
const id = suffix();
const BASE = 'hostile-base';
const MiB = 1024 * 1024;
let ns = '';
let controller: ControllerProcess;
const createdLinks: string[] = [];
/** The topmost folder each `folder:` header made (removed with everything below it). */
const createdFolders: string[] = [];

// ---------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------

type Expectation = { kind: 'admission'; message: string } | { kind: 'denied' | 'held'; reason: string };

interface Fixture {
  file: string;
  expect: Expectation;
  setup: any[];
  setupPhase: string;
  /** A substring the Ready condition's message must contain (denied cases). */
  message?: string;
  object: any;
  symlinks: Array<[string, string]>;
  /** Host folders a symlink must lead to (a real credential store needs a real target). */
  folders: string[];
  /** Host paths that must not exist before and must still not exist after (nothing created them). */
  absent: string[];
}

function setPointer(obj: any, pointer: string, value: unknown): void {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let at = obj;
  for (const part of parts.slice(0, -1)) {
    at[part] ??= {};
    at = at[part];
  }
  at[parts.at(-1)!] = value;
}

function inflate(obj: any, directive: string): void {
  const [pointer, how, ...rest] = directive.split(' ');
  if (!pointer || !how) throw new Error(`bad inflate directive: ${directive}`);
  const n = Number(rest[0]);
  if (how === 'string') setPointer(obj, pointer, rest[1]!.repeat(n));
  else if (how === 'array') setPointer(obj, pointer, Array.from({ length: n }, (_, i) => JSON.parse(rest.slice(1).join(' ').replaceAll('{i}', String(i)))));
  else if (how === 'strings') setPointer(obj, pointer, Array.from({ length: n }, (_, i) => `${i}-${rest[2]!.repeat(Number(rest[1]))}`));
  else throw new Error(`bad inflate directive: ${directive}`);
}

function loadFixture(file: string): Fixture {
  const text = readFileSync(path.join(FIXTURES, file), 'utf8');
  const header = (name: string) => [...text.matchAll(new RegExp(`^# ${name}: (.+)$`, 'gm'))].map((m) => m[1]!.trim());
  const [expectLine] = header('expect');
  const m = /^(admission|denied|held): (.+)$/.exec(expectLine ?? '');
  if (!m) throw new Error(`${file}: needs '# expect: admission: <message>', '# expect: denied: <reason>' or '# expect: held: <reason>'`);
  const docs = loadAllYaml(text).filter(Boolean) as any[];
  for (const d of docs) if (d.kind !== 'AgentMachineProfile' && d.metadata) d.metadata.namespace = ns;
  const object = docs.at(-1);
  for (const directive of header('inflate')) inflate(object, directive);
  return {
    file,
    expect: m[1] === 'admission' ? { kind: 'admission', message: m[2]! } : { kind: m[1] as 'denied' | 'held', reason: m[2]! },
    setup: docs.slice(0, -1),
    setupPhase: header('setup-phase')[0] ?? 'Ready',
    ...(header('message')[0] !== undefined ? { message: header('message')[0] } : {}),
    object,
    symlinks: header('symlink').map((l) => l.split(' -> ') as [string, string]),
    absent: header('absent'),
    folders: header('folder'),
  };
}

const stateOf = (o: any): string | undefined => o?.status?.phase ?? o?.status?.state;
/** Refused for good (Denied, Invalid), or held with the expected reason (Pending). */
const isRefusal = (f: Fixture, o: any) =>
  f.expect.kind === 'held' ? stateOf(o) === 'Pending' && readyOf(o)?.reason === f.expect.reason : ['Denied', 'Invalid'].includes(stateOf(o) ?? '');
const readyOf = (o: any) => o?.status?.conditions?.find((c: any) => c.type === 'Ready');
// Control characters, bidi overrides: a condition message must read as what it is.
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Every object of the agent-machine kinds this file made, by kind/name, in one round of lists. */
async function snapshot(): Promise<Map<string, any>> {
  const kinds: KindName[] = ['AgentMachineProfile', 'ToolGrantRecord', 'LocalAgentExecution', 'ContainerExecutionRecord', 'ModelProviderBinding', 'AgentMachineDiagnosticBundle'];
  const out = new Map<string, any>();
  await Promise.all(
    kinds.map(async (kind) => {
      const list = await admin.request<any>({ method: 'GET', path: collectionPath({ kind, metadata: { namespace: ns } }) });
      for (const item of list.items) out.set(`${kind}/${item.metadata.name}`, item);
    }),
  );
  return out;
}

async function pool<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------
// A valid grant and execution: the controller must still serve ordinary work
// ---------------------------------------------------------------------------------------------

function validGrant(name: string) {
  return {
    apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
    kind: 'ToolGrantRecord',
    metadata: { name, namespace: ns },
    spec: { profileRef: { name: BASE }, tool: 'mcp.ordinary', authority: authority('alice', ['agent_machine.tool_grant.apply', 'tool:mcp.ordinary']) },
  };
}

function validExecution(name: string, script: string, budget: object = {}) {
  return testExecution(name, ns, BASE, script, {
    authority: authority('alice', ['agent_machine.execution.start', 'agent_machine.container.run']),
    budget: { wallClockSeconds: 120, sandboxMemoryBytes: 64 * MiB, localDiskBytes: 16 * MiB, cpuGpuComputeSeconds: 100, ...budget },
  });
}

const phaseOf = async (name: string) => (await getObject<any>('LocalAgentExecution', name, ns))?.status;
const waitExecution = (name: string, phase: string, timeoutMs = 90_000) =>
  eventually(`${name} ${phase}`, async () => {
    const s = await phaseOf(name);
    if (s?.phase && ['Succeeded', 'Failed', 'Cancelled', 'Denied'].includes(s.phase) && s.phase !== phase) throw new Error(`${name} ended ${s.phase}: ${JSON.stringify(s.conditions)}`);
    return s?.phase === phase ? s : undefined;
  }, timeoutMs, 250);

function controllerRssBytes(): number {
  const status = readFileSync(`/proc/${controller.child.pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(kb, 'VmRSS in /proc/<pid>/status');
  return Number(kb[1]) * 1024;
}

function assertControllerHealthy(): void {
  assert.equal(controller.child.exitCode, null, 'the controller is still running');
  assert.equal(controller.child.signalCode, null, 'the controller was not killed');
  const bad = controller.logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
  assert.deepEqual(bad.map((l) => `${l.msg}: ${String(l.error ?? '')}`), [], 'no error or fatal log lines (no reconcile failed, no crash)');
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  await installApi();
  ns = await createNamespace('hostile');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl'), args: ['-n', ns] });
  const base = testProfile(BASE, { images: { allowedRegistries: ['localhost'] }, budgetCeilings: { modelCalls: 10, tokens: 1000, connectorCalls: 10, cpuGpuComputeSeconds: 120, localDiskBytes: 256 * MiB, sandboxMemoryBytes: 256 * MiB, wallClockSeconds: 300, agentConcurrency: 4 } });
  const created = await createObjectAs('alice', base);
  assert.ok(created.status === 201 || created.status === 409, created.message);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${BASE}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
  for (const link of createdLinks) unlinkSync(link);
  for (const folder of createdFolders) rmSync(folder, { recursive: true, force: true });
  // Profiles are cluster-scoped: leave nothing for later files in the same run.
  await kubectl(['delete', 'agentmachineprofile', '-l', 'agentmachine.sourceos.dev/hostile-corpus=true', '--ignore-not-found', '--wait=false'], { check: false });
});

test('the hostile corpus: every object is rejected at admission or Denied with a clear reason, and ordinary work goes on', async (t) => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.length >= 50, `${files.length} fixtures`);
  const fixtures = files.map(loadFixture);
  for (const f of fixtures) for (const o of [...f.setup, f.object]) if (o?.kind === 'AgentMachineProfile' && o.metadata) o.metadata.labels = { ...o.metadata.labels, 'agentmachine.sourceos.dev/hostile-corpus': 'true' };
  for (const f of fixtures) {
    for (const folder of f.folders) {
      const made = mkdirSync(folder, { recursive: true });
      if (made !== undefined) createdFolders.push(made);
    }
    for (const [link, target] of f.symlinks) {
      if (existsSync(link) || isDanglingLink(link)) {
        assert.equal(readlinkSync(link), target, `${link} exists and does not point to ${target}`);
      } else {
        symlinkSync(target, link);
        createdLinks.push(link);
      }
    }
  }

  const absent = fixtures.flatMap((f) => f.absent);
  for (const p of absent) assert.equal(existsSync(p), false, `${p} must not exist before the run (remove it)`);

  // Set-up objects first (profiles the cases run under), then every case, eight at a time.
  const started = performance.now();
  const setups = fixtures.flatMap((f) => f.setup.map((o) => ({ f, o })));
  await pool(setups, 4, async ({ f, o }) => {
    const a = await createObjectAs('alice', o);
    assert.ok(a.status === 201 || a.status === 409, `${f.file}: set-up ${o.kind}/${o.metadata.name}: ${a.status} ${a.message}`);
  });
  await eventually('set-up profiles settled', async () => {
    const all = await snapshot();
    return fixtures.every((f) => f.setup.every((o) => o.kind !== 'AgentMachineProfile' || all.get(`AgentMachineProfile/${o.metadata.name}`)?.status?.phase === f.setupPhase));
  }, 30_000, 250);

  const answers = await pool(fixtures, 8, async (f) => ({ f, answer: await createObjectAs('alice', f.object) }));
  const applyMs = performance.now() - started;

  // Meanwhile, ordinary work: a grant and an execution created after the whole corpus.
  const ordinary = await Promise.all([createObjectAs('alice', validGrant('ordinary-grant')), createObjectAs('alice', validExecution('ordinary-execution', 'echo ordinary work'))]);
  for (const a of ordinary) assert.equal(a.status, 201, a.message);

  // Admission: rejected, with the expected (and a readable) message.
  const admitted: Fixture[] = [];
  const admissionFailures: string[] = [];
  for (const { f, answer } of answers) {
    if (f.expect.kind === 'admission') {
      const problem = admissionProblem(f.expect.message, answer);
      if (problem) admissionFailures.push(`${f.file}: ${problem}`);
    } else if (answer.status !== 201) {
      admissionFailures.push(`${f.file}: expected to be accepted (then Denied), got ${answer.status} ${answer.message.slice(0, 300)}`);
    } else {
      admitted.push(f);
    }
  }
  assert.deepEqual(admissionFailures, []);

  // Denied: every accepted object ends Denied (Invalid for profiles) with its reason.
  let last = new Map<string, any>();
  const keyOf = (o: any) => `${o.kind}/${o.metadata.name}`;
  await eventually('every accepted hostile object refused', async () => {
    last = await snapshot();
    return admitted.every((f) => isRefusal(f, last.get(keyOf(f.object))));
  }, 60_000, 500).catch((err) => {
    const pending = admitted.filter((f) => !isRefusal(f, last.get(keyOf(f.object)))).map((f) => `${f.file}: ${JSON.stringify(last.get(keyOf(f.object))?.status ?? 'no status')}`);
    throw new Error(`${(err as Error).message}\nnot refused:\n${pending.join('\n')}`);
  });
  const deniedFailures: string[] = [];
  for (const f of admitted) {
    const o = last.get(keyOf(f.object));
    const ready = readyOf(o);
    const expected = (f.expect as { reason: string }).reason;
    if (ready?.reason !== expected) deniedFailures.push(`${f.file}: reason ${ready?.reason}, expected ${expected}: ${ready?.message}`);
    else if (f.message !== undefined && !ready.message.includes(f.message)) deniedFailures.push(`${f.file}: message ${JSON.stringify(ready.message)} does not say ${JSON.stringify(f.message)}`);
    else if (!ready.message || ready.message.length > 2048 || UNPRINTABLE.test(ready.message)) deniedFailures.push(`${f.file}: unclear message ${JSON.stringify(ready.message)}`);
    if (['LocalAgentExecution', 'ContainerExecutionRecord'].includes(o.kind) && (o.status.containerId || o.status.startedAt)) deniedFailures.push(`${f.file}: something started`);
  }
  assert.deepEqual(deniedFailures, []);
  // Denied executions never got a container record.
  const records = [...last.values()].filter((o) => o.kind === 'ContainerExecutionRecord' && o.metadata.ownerReferences?.length);
  assert.deepEqual(records.map((r) => r.metadata.name).filter((n) => !n.startsWith('ordinary-')), [], 'no container record for a hostile execution');

  // A bind mount of a missing folder would have made the engine create it on the host, as root.
  for (const p of absent) assert.equal(existsSync(p), false, `${p} was created on the host`);

  // Ordinary work reconciled while the corpus was being refused.
  await eventually('ordinary grant Active', async () => (await getObject<any>('ToolGrantRecord', 'ordinary-grant', ns))?.status?.state === 'Active', 30_000);
  await waitExecution('ordinary-execution', 'Succeeded');
  assertControllerHealthy();
  const metrics = await (await fetch(controller.metricsUrl)).text();
  const errors = [...metrics.matchAll(/^agent_machine_reconcile_errors_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  assert.equal(errors, 0, 'no reconcile failed');
  const counts = { admission: answers.length - admitted.length, denied: admitted.length };
  t.diagnostic(`${fixtures.length} hostile objects: ${counts.admission} rejected at admission, ${counts.denied} Denied by the controller; applied in ${Math.round(applyMs)} ms`);
});

test('hostile runtime output (20 MB of binary, escapes, NULs, megabyte lines) keeps status small, the tail clean and the controller bounded', async (t) => {
  const rssBefore = controllerRssBytes();
  const marker = `END-OF-HOSTILE-OUTPUT-${id}`;
  const script = [
    // 20 MB of random bytes: NULs, ESC, invalid UTF-8, C1 controls, few newlines.
    'head -c 20000000 /dev/urandom',
    // One 2 MB line.
    "head -c 2000000 /dev/zero | tr '\\000' 'a'",
    'echo',
    // Terminal escapes: colours, clear screen, window title (OSC 0), a hyperlink (OSC 8), a DCS
    // string, cursor movement, an 8-bit CSI, bidi overrides, NULs and a carriage-return overwrite.
    "printf '\\033[31mred\\033[0m \\033]0;pwned-title\\007 \\033]8;;http://evil.example/\\033\\\\link\\033]8;;\\033\\\\ \\033P+q544e\\033\\\\ \\033[2J\\033[H \\233 31m \\342\\200\\256reversed\\342\\200\\254 nul:\\000:\\000: fake\\rREAL\\n'",
    // On stderr: the alternate screen and an OSC 52 clipboard write. (podman 4.3's log reader
    // may put a stderr line before earlier stdout after a long partial line, so where it lands
    // in the tail is podman's business; that no escape survives is ours.)
    "printf '\\033[?1049h\\033]52;c;ZXZpbA==\\007from-stderr\\n' >&2",
    `echo ${marker}`,
  ].join('; ');
  const created = await createObjectAs('alice', validExecution('hostile-output', script));
  assert.equal(created.status, 201, created.message);
  const started = performance.now();
  let peakRss = rssBefore;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, controllerRssBytes());
    } catch {
      // the process may be between samples; the assertions below read it again
    }
  }, 200);
  let exStatus: any;
  try {
    exStatus = await waitExecution('hostile-output', 'Succeeded', 120_000);
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - started) / 1000;
  const rssAfter = controllerRssBytes();
  peakRss = Math.max(peakRss, rssAfter);

  const record = await getObject<any>('ContainerExecutionRecord', 'hostile-output-agent', ns);
  const tail: string = record.status.logTail;
  const recordStatusBytes = Buffer.byteLength(JSON.stringify(record.status));
  const executionStatusBytes = Buffer.byteLength(JSON.stringify(exStatus));
  assert.ok(recordStatusBytes < 16 * 1024, `record status is ${recordStatusBytes} bytes`);
  assert.ok(executionStatusBytes < 16 * 1024, `execution status is ${executionStatusBytes} bytes`);
  assert.ok(tail.length > 0 && tail.length <= 4096, `tail of ${tail.length} characters`);
  assert.ok(tail.includes(marker), `the tail ends with what was printed last: ${JSON.stringify(tail.slice(-300))}`);
  assert.doesNotMatch(tail, UNPRINTABLE, 'no control characters, ESC, NUL or bidi overrides in the tail');
  assert.ok(!tail.includes('pwned-title') && !tail.includes('ZXZpbA=='), 'OSC payloads (window title, clipboard) are removed with their escapes');
  assert.equal(record.status.exitCode, 0);

  // Events and the audit log carry no raw output either.
  const events = await kubectl(['get', 'events', '-n', ns, '-o', 'json']);
  assert.ok(!events.stdout.includes('pwned-title'), 'no output in events');
  assert.ok(!readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').includes('pwned-title'), 'no output in the audit log');

  const growth = rssAfter - rssBefore;
  t.diagnostic(`20 MB hostile output: done in ${seconds.toFixed(1)} s; record status ${recordStatusBytes} B, execution status ${executionStatusBytes} B, tail ${tail.length} chars; controller RSS ${(rssBefore / MiB).toFixed(1)} → ${(rssAfter / MiB).toFixed(1)} MiB (peak ${(peakRss / MiB).toFixed(1)} MiB)`);
  assert.ok(growth < 100 * MiB, `controller RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  assert.ok(peakRss - rssBefore < 100 * MiB, `controller RSS peaked ${((peakRss - rssBefore) / MiB).toFixed(1)} MiB above where it started`);

  // And it keeps reconciling.
  assert.equal((await createObjectAs('alice', validExecution('after-output', 'echo still here'))).status, 201);
  await waitExecution('after-output', 'Succeeded');
  assertControllerHealthy();
});

function admissionProblem(expected: string, answer: ApiAnswer): string | undefined {
  if (answer.status < 400) return `accepted (${answer.status}); expected a rejection containing ${JSON.stringify(expected)}`;
  const at = answer.message.indexOf(expected);
  if (at < 0) return `rejected (${answer.status}) without ${JSON.stringify(expected)}: ${answer.message.slice(0, 500)}`;
  // A clear message names the field and the problem up front, not after a megabyte of input.
  if (at > 1024) return `rejected, but the reason comes only after ${at} characters`;
  return undefined;
}

function isDanglingLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
