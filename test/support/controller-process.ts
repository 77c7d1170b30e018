// Runs the real `agent-machine controller` CLI as a child process against the test control
// plane, so tests can SIGKILL it, restart it, run two replicas, and read its JSON logs.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kubeconfigPath } from './integration-env.ts';

const BIN = fileURLToPath(new URL('../../bin/agent-machine.js', import.meta.url));

export interface ControllerProcess {
  child: ChildProcess;
  /** Every JSON log line so far, parsed. */
  logs: Array<Record<string, unknown>>;
  metricsUrl: string;
  /** Resolves when a log line satisfies the predicate (or rejects after timeoutMs). */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends a signal and waits for the exit; resolves with the exit code (or signal name). */
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface ControllerProcessOptions {
  auditLogPath: string;
  /** Extra CLI flags, e.g. leader election timings. */
  args?: string[];
  leaderElect?: boolean;
  /** Another cluster endpoint than the shared apiserver's (e.g. an apiserver replica or a proxy). */
  kubeconfig?: string;
  /** Extra environment (e.g. POD_NAME / POD_NAMESPACE as the downward API sets them). */
  env?: Record<string, string>;
}

export async function startControllerProcess(opts: ControllerProcessOptions): Promise<ControllerProcess> {
  const args = [
    BIN,
    'controller',
    '--kubeconfig',
    opts.kubeconfig ?? kubeconfigPath(),
    '--metrics-bind-address',
    '127.0.0.1:0',
    '--audit-log',
    opts.auditLogPath,
    '--log-format',
    'json',
    opts.leaderElect ? '--leader-elect' : '--no-leader-elect',
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
  const logs: Array<Record<string, unknown>> = [];
  const waiters = new Set<{ predicate: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  let buffer = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text };
      }
      logs.push(line);
      for (const w of waiters) if (w.predicate(line)) (waiters.delete(w), w.resolve(line));
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));

  const waitForLog = (predicate: (l: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> => {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve };
      waiters.add(waiter);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`controller log line not seen within ${timeoutMs} ms; stderr:\n${stderr}\nlast logs:\n${logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`));
      }, timeoutMs);
      void exited.then((code) => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`controller exited (${code}) before the log line; stderr:\n${stderr}`));
      });
      const done = waiter.resolve;
      waiter.resolve = (l) => (clearTimeout(timer), done(l));
    });
  };

  const listening = await waitForLog((l) => l.msg === 'health and metrics server listening');
  return {
    child,
    logs,
    metricsUrl: `${String(listening.url)}/metrics`,
    waitForLog,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
