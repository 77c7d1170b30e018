// Integration test runner: one real control plane (etcd + kube-apiserver) and one podman
// service for the whole run, shared by every test file through environment variables (see
// test/support/integration-env.ts), then `node --test` over the files. Starting them once
// keeps a run fast; --test-concurrency=1 keeps files from fighting over shared cluster state.
//
//   node test/run-integration.ts [test files or globs]   (default: test/integration/**/*.test.ts)
//   node test/run-integration.ts --bench test/bench/x.bench.ts ...   (benchmark scripts, same environment)
//
// Everything started here is torn down on every path out: success, failure, SIGINT/SIGTERM.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { startLocalControlPlane } from '../src/dev/local-control-plane.ts';
import type { LocalControlPlane } from '../src/dev/local-control-plane.ts';
import { dockerHostAnswers, socketPathFromDockerHost, startPodmanService } from '../src/dev/podman-service.ts';
import type { PodmanService } from '../src/dev/podman-service.ts';
import { withParentDeathSignal } from '../src/dev/supervised-process.ts';
import { ENV, NODE_USER, TEST_USERS, kubeconfigEnvName } from './support/integration-env.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg: string): void => console.log(`integration: ${msg}`);

let controlPlane: LocalControlPlane | undefined;
let podman: PodmanService | undefined;
let starting: Promise<unknown> | undefined;
let tests: ChildProcess | undefined;
let tearingDown: Promise<void> | undefined;
let interrupted = false;

function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    const started = performance.now();
    // A start-up in flight fails fast once a signal killed its children; wait for it so
    // whatever it did start is known and stopped below (or already cleaned up by itself).
    await starting;
    await Promise.allSettled([controlPlane?.stop(), podman?.stop()]);
    say(`environment stopped in ${Math.round(performance.now() - started)} ms`);
  })();
  return tearingDown;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted = true;
    say(`${sig}: stopping tests and environment`);
    tests?.kill(sig);
    void teardown().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

/** Folder of kube-apiserver + etcd, built or located by the project script (honours KUBEBUILDER_ASSETS). */
function controlPlaneBinaries(): string {
  return execFileSync('bash', [join(root, 'scripts/control-plane-binaries.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** containers.conf podman needs on these machines; also builds the sandbox image if missing. */
function containersConf(): string {
  return execFileSync('bash', [join(root, 'scripts/ensure-podman.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

async function engineSocket(conf: string): Promise<string> {
  // An explicitly configured engine (DOCKER_HOST=unix://...) wins; otherwise a private
  // podman service, so tests never touch containers of a daemon someone else uses.
  const explicit = process.env.DOCKER_HOST;
  if (explicit) {
    const socketPath = socketPathFromDockerHost(explicit);
    if (socketPath && (await dockerHostAnswers(explicit))) return socketPath;
    throw new Error(`DOCKER_HOST=${explicit} does not answer /_ping (unset it to use a private podman service)`);
  }
  podman = await startPodmanService({ containersConf: conf });
  return podman.socketPath;
}

async function runBenchmarks(files: string[], env: NodeJS.ProcessEnv): Promise<number> {
  for (const file of files) {
    say(`benchmark ${file}`);
    const [command, argv] = withParentDeathSignal(process.execPath, [file]);
    tests = spawn(command, argv, { cwd: root, env, stdio: 'inherit' });
    const child = tests;
    const code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
    if (code !== 0) return code;
  }
  return 0;
}

async function main(): Promise<number> {
  const binDir = controlPlaneBinaries();
  const conf = containersConf();
  const startedAll = performance.now();
  // Settle both before judging: a failure of one must not leave the other half-started.
  const startup = Promise.allSettled([
    // The audit log (ServiceAccount requests only) lets a test hold the controller's RBAC
    // against the requests it made (test/integration/install-manifests.test.ts).
    startLocalControlPlane({ binDir, users: [...TEST_USERS, NODE_USER], audit: {} }).then((c) => (controlPlane = c)),
    engineSocket(conf),
  ]);
  starting = startup;
  const [cpResult, socketResult] = await startup;
  if (cpResult.status === 'rejected') throw cpResult.reason;
  if (socketResult.status === 'rejected') throw socketResult.reason;
  const cp = cpResult.value;
  const socketPath = socketResult.value;
  const engine = await new Docker({ socketPath }).version();
  const podmanComponent = engine.Components?.find((c) => c.Name === 'Podman Engine');
  const engineVersion = podmanComponent ? `podman ${podmanComponent.Version}` : `docker ${engine.Version}`;

  say(`kube-apiserver ${cp.version} at ${cp.server} (ready in ${(cp.startupMs / 1000).toFixed(1)} s; data ${cp.dataDir})`);
  say(`${engineVersion} (API ${engine.ApiVersion}) on unix://${socketPath}${podman ? ` (ready in ${(podman.startupMs / 1000).toFixed(1)} s)` : ''}`);
  say(`environment ready in ${((performance.now() - startedAll) / 1000).toFixed(1)} s`);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [ENV.kubeconfig]: cp.adminKubeconfigPath,
    [ENV.k8sVersion]: cp.version,
    [ENV.dockerSocket]: socketPath,
    [ENV.engineVersion]: engineVersion,
    ...(cp.auditLogPath ? { [ENV.apiserverAuditLog]: cp.auditLogPath } : {}),
    [ENV.etcdUrl]: cp.etcdUrl,
    [ENV.controlPlaneDir]: cp.dataDir,
    [ENV.controlPlaneBinDir]: cp.binDir,
    // Defaults for anything that reads the standard names, so no test can reach a real
    // cluster or a shared engine by accident.
    KUBECONFIG: cp.adminKubeconfigPath,
    DOCKER_HOST: `unix://${socketPath}`,
    CONTAINERS_CONF: conf,
    // A kubectl built with the control plane (scripts/control-plane-binaries.sh builds one
    // when the machine has none) is the fallback after the machine's own.
    PATH: `${process.env.PATH ?? ''}:${binDir}`,
  };
  for (const u of [...TEST_USERS, NODE_USER]) env[kubeconfigEnvName(u.name)] = cp.kubeconfigPathFor(u.name);

  // --bench FILE...: the same environment for benchmark scripts, which print figures and are
  // run one after the other as plain programs, not as tests.
  const bench = process.argv[2] === '--bench';
  const files = process.argv.slice(bench ? 3 : 2);
  if (bench) return runBenchmarks(files, env);
  const args = ['--test', '--test-concurrency=1', '--test-reporter=spec', ...(files.length ? files : ['test/integration/**/*.test.ts'])];
  // With a parent-death signal, a SIGKILLed runner does not leave tests running against a
  // control plane that is gone.
  const [command, argv] = withParentDeathSignal(process.execPath, args);
  tests = spawn(command, argv, { cwd: root, env, stdio: 'inherit' });
  const child = tests;
  return await new Promise<number>((resolve) => {
    child.once('error', (err) => {
      say(`could not start node --test: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  // After a signal, start-up failures are just the children we killed: not worth a screenful.
  if (!interrupted) console.error(`integration: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  await teardown();
}
process.exit(exitCode);
