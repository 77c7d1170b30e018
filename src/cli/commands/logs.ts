// `agent-machine logs`: what an execution's containers print, read from the runtime they run
// on (the Engine API socket for the docker runtime, the Pod logs API for kubernetes) and
// redacted before it is printed; once a container is gone (the controller removes it when it
// finishes), the end its record kept. The caller's own access decides: the execution and its
// records are read with the caller's credentials, and so are the Secrets whose values are
// taken out of the output.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { ContainerExecutionRecord, LocalAgentExecution } from '../../api/types.generated.ts';
import { getCondition } from '../../operator/conditions.ts';
import { createKubeClients, describeError, statusCodeOf, type KubeClients } from '../../operator/kube-clients.ts';
import { MissingSecretError, resolveEnv } from '../../reconcilers/container-env.ts';
import { isTerminalContainerPhase } from '../../reconcilers/container-state.ts';
import { isTerminalExecutionPhase } from '../../reconcilers/execution-state.ts';
import { DEFAULT_SOCKET_PATH } from '../../runtimes/docker/engine.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { DockerLogSource } from '../logs/docker-log-source.ts';
import { KubernetesLogSource } from '../logs/kubernetes-log-source.ts';
import { LineRedactor } from '../logs/line-redactor.ts';
import type { LogSource } from '../logs/log-source.ts';
import { CliError, getTarget, waitFor } from '../object-client.ts';
import { unseenTail } from '../logs/unseen-tail.ts';
import { contextNamespace } from './contract.ts';

interface LogsOptions {
  namespace?: string;
  kubeconfig?: string;
  follow?: boolean;
  container?: string;
  dockerHost?: string;
}

/** Where `make run` / `agent-machine dev` starts its podman service (--data-dir's default). */
export function devPodmanSocket(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'agent-machine', 'dev', 'podman', 'podman.sock');
}

/** --docker-host, else DOCKER_HOST, else the dev environment's podman socket when there is one, else podman's system socket. */
export function dockerSocketFor(option: string | undefined, env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): string {
  for (const host of [option, env.DOCKER_HOST]) {
    if (!host) continue;
    if (host.startsWith('unix://')) return host.slice('unix://'.length);
    if (host.startsWith('/')) return host;
    throw new CliError(`docker host ${host}: only unix:// sockets are supported`);
  }
  const dev = devPodmanSocket(env);
  return exists(dev) ? dev : DEFAULT_SOCKET_PATH;
}

const HELP = `
Prints the output (stdout and stderr together) of the execution's containers, from the start,
redacted: the values of the Secrets its containers' environment names, tokens and keys in
known formats, credential-named values and prompt fields are replaced before anything is
printed (the same redactor as diagnostics export). With -f it follows them while they run,
then the next attempt's when the execution retries, and ends when the execution has finished.

Access: the execution, its ContainerExecutionRecords and those Secrets are read as the user of
your kubeconfig; a user who may not get the execution gets an error (exit 1) and nothing else.
The output itself is read where the controller runs the containers:
  docker runtime      the Engine API socket: --docker-host, $DOCKER_HOST, the podman socket
                      that \`make run\` starts (~/.cache/agent-machine/dev/podman/podman.sock),
                      else /run/podman/podman.sock
  kubernetes runtime  the Pod logs API (you need get on pods/log in the namespace)
A finished container is removed by the controller: its record's status.logTail (the last
4 KiB, redacted when it was written) is printed instead, with a note on stderr.

With several containers, each line starts with [container].

Exit status: 0 when the output was printed, 1 when the execution cannot be read (forbidden, not
found), a Secret needed for redaction cannot be read, or (without -f) no container has started.

Examples:
  agent-machine logs hello-agent -n default
  agent-machine logs hello-agent -f --container agent`;

export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .summary("Print (or -f follow) an execution's container output, redacted")
    .description("Print an execution's container output, redacted, from the runtime the controller runs it on; -f follows it while it runs")
    .argument('<execution>', 'name of the LocalAgentExecution (or lae/NAME)')
    .option('-n, --namespace <namespace>', 'namespace (default: the kubeconfig context namespace, else default)')
    .option('-f, --follow', 'keep printing while the containers run, until the execution finishes')
    .option('-c, --container <name>', 'only this container of the execution (default: all of them)')
    .option('--docker-host <unix://path>', 'Engine API socket of the docker runtime (default: $DOCKER_HOST, the dev podman socket, /run/podman/podman.sock)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .addHelpText('after', HELP)
    .action(async (ref: string, opts: LogsOptions) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        process.exitCode = await runLogs(ref, opts, stop.signal);
      } catch (err) {
        console.error(`agent-machine logs: ${err instanceof CliError ? err.message : describeError(err)}`);
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

interface Target {
  container: string;
  recordName: string;
}

async function runLogs(ref: string, opts: LogsOptions, signal: AbortSignal): Promise<number> {
  const name = ref.replace(/^(lae|localagentexecutions?(\.agentmachine\.sourceos\.dev)?)\//i, '');
  if (name.includes('/')) throw new CliError(`${ref}: expected a LocalAgentExecution name (or lae/NAME)`);
  const kubeConfig = loadKubeConfig(opts.kubeconfig);
  const clients = createKubeClients(kubeConfig);
  const namespace = opts.namespace ?? contextNamespace(kubeConfig);
  const readExecution = () => getTarget<LocalAgentExecution>(clients, { kind: 'LocalAgentExecution', name }, namespace);
  let ex = await readExecution();
  const declared = ex.spec.containers.map((c) => c.name!);
  if (opts.container !== undefined && !declared.includes(opts.container)) {
    throw new CliError(`execution ${namespace}/${name} has no container ${JSON.stringify(opts.container)}; its containers: ${declared.join(', ')}`);
  }
  const selected = opts.container !== undefined ? [opts.container] : declared;
  const prefixed = selected.length > 1;
  const sources = new Map<string, LogSource>();
  const sourceFor = (runtime: string): LogSource => {
    let s = sources.get(runtime);
    if (!s) {
      s = runtime === 'kubernetes' ? new KubernetesLogSource(kubeConfig, clients) : new DockerLogSource(dockerSocketFor(opts.dockerHost));
      sources.set(runtime, s);
    }
    return s;
  };
  const done = new Set<string>();
  let shownAttempt = ex.status?.attempts ?? 0;
  for (;;) {
    const targets: Target[] = (ex.status?.containers ?? []).filter((c) => selected.includes(c.name) && c.recordName && !done.has(c.recordName)).map((c) => ({ container: c.name, recordName: c.recordName! }));
    if (targets.length === 0 && done.size === 0 && !opts.follow) {
      const ready = getCondition(ex.status?.conditions, 'Ready');
      throw new CliError(`no container of execution ${namespace}/${name} has started yet: it is ${ex.status?.phase ?? 'not reconciled yet'}${ready ? ` (${ready.reason}: ${ready.message})` : ''}; -f waits for it`);
    }
    if ((ex.status?.attempts ?? 0) > shownAttempt && done.size > 0) console.error(`--- attempt ${ex.status!.attempts} ---`);
    shownAttempt = Math.max(shownAttempt, ex.status?.attempts ?? 0);
    const finished = await Promise.all(targets.map((t) => showRecord(clients, namespace, t, sourceFor, opts.follow === true, prefixed, signal)));
    targets.forEach((t, i) => finished[i] && done.add(t.recordName));
    if (!opts.follow || signal.aborted) return 0;
    if (isTerminalExecutionPhase(ex.status?.phase) && (ex.status?.containers ?? []).every((c) => !selected.includes(c.name) || !c.recordName || done.has(c.recordName))) return 0;
    await sleep(targets.length > 0 && finished.every(Boolean) ? 200 : 1_000, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return 0;
    ex = await readExecution();
  }
}

/**
 * Prints one record's output; true when it is complete (the container's stream ended, or it is
 * gone and its record's tail was printed), false when there is nothing yet to follow.
 */
async function showRecord(clients: KubeClients, namespace: string, t: Target, sourceFor: (runtime: string) => LogSource, follow: boolean, prefixed: boolean, signal: AbortSignal): Promise<boolean> {
  let record: ContainerExecutionRecord;
  try {
    record = await getTarget<ContainerExecutionRecord>(clients, { kind: 'ContainerExecutionRecord', name: t.recordName }, namespace);
  } catch (err) {
    if (follow && /HTTP 404/.test(String((err as Error).message))) return false; // being created
    throw err;
  }
  const redactor = new LineRedactor(await secretValuesOf(clients, namespace, record));
  const out = new PrefixedWriter(prefixed ? `[${t.container}] ` : '');
  const runtime = record.status?.runtime ?? record.spec.runtime ?? 'docker';
  const printed: string[] = [];
  const print = (text: string) => {
    out.write(text);
    if (text) printed.push(text);
  };
  const streamed = await sourceFor(runtime).stream({ uid: record.metadata.uid!, namespace }, follow, (text) => print(redactor.push(text)), signal);
  if (streamed === 'complete') {
    print(redactor.end());
    out.end();
    return true;
  }
  if (streamed === 'cut') {
    print(redactor.end());
    // The container went before its last lines were read: they are in its record's tail.
    const done = await waitFor(() => getTarget<ContainerExecutionRecord>(clients, { kind: 'ContainerExecutionRecord', name: t.recordName }, namespace), (r) => isTerminalContainerPhase(r.status?.phase), 30, 250);
    const missing = unseenTail(printed.join(''), redactor.push(done?.status?.logTail ?? '') + redactor.end());
    out.write(missing);
    out.end();
    console.error(`note: ${t.recordName}: the container was removed before the end of its output was read; the rest is from its record (status.logTail)`);
    return true;
  }
  if (isTerminalContainerPhase(record.status?.phase)) {
    // Redacted when the controller wrote it; once more costs nothing (redaction is idempotent).
    out.write(redactor.push(record.status?.logTail ?? ''));
    out.write(redactor.end());
    out.end();
    console.error(`note: ${t.recordName}: the container is gone (${record.status?.phase}); the last lines its record kept (status.logTail)`);
    return true;
  }
  if (!follow) {
    const ready = getCondition(record.status?.conditions, 'Ready');
    console.error(`note: ${t.recordName}: no container to read yet (${record.status?.phase ?? 'Pending'}${ready ? `, ${ready.reason}: ${ready.message}` : ''})`);
    return true;
  }
  return false;
}

/** Fail closed: output whose Secrets cannot be read cannot be shown redacted. */
async function secretValuesOf(clients: KubeClients, namespace: string, record: ContainerExecutionRecord): Promise<string[]> {
  try {
    return (await resolveEnv(clients, namespace, record.spec.container)).secretValues;
  } catch (err) {
    // A missing Secret kept the container from starting: nothing it could print holds its value.
    if (err instanceof MissingSecretError) return [];
    const why = statusCodeOf(err) === 403 ? 'you may not get the Secrets its environment names' : 'the Secrets its environment names could not be read';
    throw new CliError(`${record.metadata.name}: ${why}, so its output cannot be redacted and is not shown: ${describeError(err)}`);
  }
}

/** Writes to stdout, starting each line with a prefix (the container's name when there are several). */
class PrefixedWriter {
  readonly #prefix: string;
  #atLineStart = true;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  write(text: string): void {
    if (text === '') return;
    if (this.#prefix === '') {
      process.stdout.write(text);
      this.#atLineStart = text.endsWith('\n');
      return;
    }
    const lines = text.split('\n');
    const last = lines.pop()!;
    let out = '';
    for (const line of lines) {
      out += `${this.#atLineStart ? this.#prefix : ''}${line}\n`;
      this.#atLineStart = true;
    }
    if (last !== '') {
      out += `${this.#atLineStart ? this.#prefix : ''}${last}`;
      this.#atLineStart = false;
    }
    process.stdout.write(out);
  }

  /** A last line without a newline gets one, so the next container's output starts a line. */
  end(): void {
    if (!this.#atLineStart) process.stdout.write('\n');
    this.#atLineStart = true;
  }
}
