// What a user sees of long work (issue 16 items 6 and 9), on the real API server, the real
// controller (CLI child process) and real podman containers: `agent-machine logs` of a running
// container and of a finished one, `-f` following it to its end, secrets redacted on the way,
// bob (no rights) refused; wall-clock and CPU seconds rising in the status while it runs; the
// output tail, the exit code and the budget used on the execution itself, in `kubectl get`
// and first in `kubectl describe`; agent_machine_executions{phase,profile}.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installApi, grantEditorRole, bindDelegatorRole } from '../support/install.ts';
import { dockerSocket, kubeconfigPath, kubectl } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { createAs, createNamespace, eventually, getObject, suffix, testExecution, testProfile } from '../support/objects.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/agent-machine.js');
const dir = mkdtempSync(path.join(tmpdir(), 'am-logs-'));
const PROFILE = `logs-personal-${suffix()}`;
const SECRET_VALUE = `s3cr3t-${suffix()}-value-for-logs`;
let ns = '';
let controller: ControllerProcess;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cliArgs(user: string, args: string[]): string[] {
  return [BIN, ...args, '-n', ns, '--kubeconfig', kubeconfigPath(user), '--docker-host', `unix://${dockerSocket()}`];
}

/** The real CLI as a test user (their kubeconfig: RBAC sees them). */
function cli(user: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, cliArgs(user, args), { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** An execution whose container reads API_KEY from a Secret alice may read. */
function execution(name: string, script: string) {
  return testExecution(name, ns, PROFILE, script, {}, { env: [{ name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'agent-key', key: 'key' } } }] });
}

const exOf = (name: string) => getObject<any>('LocalAgentExecution', name, ns);
const ended = (name: string) =>
  eventually(`${name} finished`, async () => {
    const ex = await exOf(name);
    return ['Succeeded', 'Failed', 'Cancelled', 'Denied'].includes(ex?.status?.phase) ? ex : undefined;
  }, 120_000, 250);

before(async () => {
  await installApi();
  ns = await createNamespace('logs');
  await grantEditorRole('alice');
  await bindDelegatorRole('alice');
  // alice may read the Secret her agent's environment names (admission asks it of her too).
  const rbac = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'agent-key', namespace: ns }, stringData: { key: SECRET_VALUE } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'secret-reader', namespace: ns }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'alice-secret-reader', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
      },
    ],
  };
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(rbac) });
  assert.equal((await createAs('alice', testProfile(PROFILE, { images: { allowedRegistries: ['localhost'] } }))).code, 0);
  controller = await startControllerProcess({ auditLogPath: path.join(dir, 'audit.jsonl') });
  await kubectl(['wait', '--for=condition=Ready', '--timeout=20s', `agentmachineprofile/${PROFILE}`]);
});

after(async () => {
  await controller?.kill('SIGTERM');
});

test('a long run, watched: logs -f follows it to its end (redacted), the used seconds rise every ~10 s while it runs, logs without -f reads the live container', async () => {
  const name = 'long';
  // ~24 s of output, one line a second, with a little CPU work, then the secret.
  const script = 'i=0; while [ $i -lt 24 ]; do echo "tick $i"; j=0; while [ $j -lt 20000 ]; do j=$((j+1)); done; i=$((i+1)); sleep 1; done; echo "key=$API_KEY"; echo "raw $API_KEY end"';
  assert.equal((await createAs('alice', execution(name, script))).code, 0);
  // Started before the container is: -f waits for it.
  const follower = spawn(process.execPath, cliArgs('alice', ['logs', name, '-f']), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let followed = '';
  let followErr = '';
  follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  follower.stderr.on('data', (d: Buffer) => (followErr += d.toString()));
  const exited = new Promise<number | null>((resolve) => follower.on('exit', (code) => resolve(code)));

  // What the status says while it runs: wall-clock seconds in steps of 10, rising.
  const seen: number[] = [];
  await eventually('wallClockSeconds ≥ 20 while Running', async () => {
    const s = (await exOf(name))?.status;
    if (s?.phase !== 'Running') {
      assert.ok(!['Succeeded', 'Failed', 'Cancelled', 'Denied'].includes(s?.phase), `ended too early: ${JSON.stringify(s?.conditions)}`);
      return undefined;
    }
    const w = s.budget?.used?.wallClockSeconds;
    if (typeof w === 'number' && seen.at(-1) !== w) seen.push(w);
    assert.equal(typeof s.budget?.used?.cpuGpuComputeSeconds === 'number' || w === undefined, true, 'CPU seconds written with the wall clock');
    return typeof w === 'number' && w >= 20;
  }, 60_000, 500);
  assert.ok(seen.length >= 2, `the figure moved while it ran: ${seen.join(', ')}`);
  for (const w of seen) assert.equal(w % 10, 0, `refreshed in 10 s steps, not every reconcile: ${seen.join(', ')}`);
  assert.deepEqual([...seen].sort((a, b) => a - b), seen, 'rising');

  // Without -f, while it runs: what the live container printed so far.
  const now = await cli('alice', ['logs', name]);
  assert.equal(now.code, 0, now.stderr);
  assert.match(now.stdout, /^tick 0\ntick 1\n/);
  assert.doesNotMatch(now.stdout, /key=/, 'not printed yet');

  const s = (await ended(name)).status;
  assert.equal(s.phase, 'Succeeded', JSON.stringify(s.conditions));
  assert.equal(await exited, 0, `logs -f ends with the execution: ${followErr}`);
  const ticks = followed.split('\n').filter((l) => l.startsWith('tick '));
  assert.deepEqual(ticks, Array.from({ length: 24 }, (_, i) => `tick ${i}`), `every line, in order, once; followed:\n${followed}\nstderr:\n${followErr}`);
  assert.ok(!followed.includes(SECRET_VALUE), 'the Secret value is never printed');
  assert.match(followed, /key=\[REDACTED/);
  assert.match(followed, /raw \[REDACTED:secretValue\] end/, 'a known Secret value is found without a key to hint at it');
  assert.ok(s.budget.used.wallClockSeconds >= 24, `exact at the end: ${s.budget.used.wallClockSeconds}`);
  assert.equal(typeof s.budget.used.cpuGpuComputeSeconds, 'number');
});

test('a finished run: attempts 1, exit code, budget used and output tail on the execution, in kubectl get and first in kubectl describe; logs reads the record once the container is gone', async (t) => {
  const name = 'done';
  assert.equal((await createAs('alice', execution(name, 'echo "hello from the agent"; echo "token=$API_KEY"; echo "the end"'))).code, 0);
  const ex = await ended(name);
  const s = ex.status;
  assert.equal(s.phase, 'Succeeded', JSON.stringify(s.conditions));
  assert.equal(s.attempts, 1, 'ran once: one attempt');
  assert.equal(s.containers[0].exitCode, 0);
  assert.match(s.containers[0].outputTail, /hello from the agent\n.*\nthe end\n$/s);
  assert.ok(!s.containers[0].outputTail.includes(SECRET_VALUE));

  const get = await kubectl(['get', 'lae', name, '-n', ns]);
  const [header, row] = get.stdout.trim().split('\n');
  assert.match(header!, /PROFILE\s+AGENT\s+PHASE\s+EXIT\s+WALL-S\s+CPU-S\s+REASON\s+AGE/);
  assert.match(row!, new RegExp(`^${name}\\s+${PROFILE}\\s+\\S+\\s+Succeeded\\s+0\\s+\\d+\\s+\\d+\\s+Succeeded\\s`));

  const described = (await kubectl(['describe', 'lae', name, '-n', ns])).stdout;
  t.diagnostic(`kubectl get:\n${get.stdout}\nkubectl describe (to the decisions):\n${described.slice(0, described.indexOf('Decisions:'))}`);
  const at = (what: string) => {
    const i = described.indexOf(what);
    assert.ok(i >= 0, `describe shows ${what}:\n${described}`);
    return i;
  };
  assert.match(described, /Attempts:\s+1\n/);
  for (const what of ['Wall Clock Seconds:', 'Exit Code:', 'Output Tail:']) assert.ok(at(what) < at('Decisions:'), `${what} before the decisions`);
  assert.ok(!described.includes(SECRET_VALUE));

  const logs = await cli('alice', ['logs', name]);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /hello from the agent\ntoken=\[REDACTED[^\n]*\nthe end\n/);
  assert.match(logs.stderr, /the container is gone \(Succeeded\)/);
  assert.ok(!logs.stdout.includes(SECRET_VALUE));

  const metrics = await (await fetch(controller.metricsUrl)).text();
  const series = new RegExp(`agent_machine_executions\\{phase="Succeeded",profile="${PROFILE}"\\} (\\d+)`).exec(metrics);
  assert.ok(series && Number(series[1]) >= 1, `agent_machine_executions counts it:\n${metrics.split('\n').filter((l) => l.includes('agent_machine_executions')).join('\n')}`);
});

test('bob, who may not read the execution, gets a clear refusal (exit 1) and no output', async () => {
  const r = await cli('bob', ['logs', 'done']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^agent-machine logs: you may not get localagentexecutions\.agentmachine\.sourceos\.dev "done" in namespace "[^"]+": HTTP 403/);
  const unknown = await cli('alice', ['logs', 'done', '--container', 'nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /has no container "nope"; its containers: agent/);
});
