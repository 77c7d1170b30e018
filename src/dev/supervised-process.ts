// Child processes (etcd, kube-apiserver, podman service) that must never outlive the Node
// process that started them: a leaked etcd or apiserver keeps ports and temp dirs busy and
// breaks the next run in confusing ways.
//
// Three layers, because each covers a way of dying the others miss:
//   1. stop(): graceful SIGTERM, then SIGKILL after a grace period (normal teardown);
//   2. process 'exit' and SIGINT/SIGTERM/SIGHUP handlers (the parent exits or is interrupted);
//   3. `setpriv --pdeathsig SIGKILL` when available: the kernel kills the child even if the
//      parent is SIGKILLed or crashes, which no JavaScript handler can observe.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SupervisedProcess {
  readonly name: string;
  readonly pid: number;
  /** stdout and stderr of the child, appended. */
  readonly logPath: string;
  /** Settles when the child has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the child is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of the log, for error messages. */
  logTail(lines?: number): string;
}

export interface SpawnSupervisedOptions {
  logPath: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const SETPRIV = '/usr/bin/setpriv';
const hasPdeathsig = process.platform === 'linux' && existsSync(SETPRIV);

// Process-wide on purpose, the one exception to "no module-level state" in src/: signal and exit
// handlers belong to the process, and every child it starts must be killed by them whoever
// started it (tests, make run), so the registry of live children is the process's too.
const live = new Set<{ child: ChildProcess; name: string }>();
const exitCleanups = new Set<() => void>();
let handlersInstalled = false;
// Set by a termination signal: a start-up still in flight must not spawn the next server
// after its siblings were just killed.
let terminating = false;

/**
 * The command line that runs command with SIGKILL as its parent-death signal (Linux with
 * setpriv), or the command unchanged elsewhere. For children spawned without spawnSupervised.
 */
export function withParentDeathSignal(command: string, args: readonly string[]): [string, string[]] {
  return hasPdeathsig ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', command, ...args]] : [command, [...args]];
}

export function spawnSupervised(
  name: string,
  command: string,
  args: readonly string[],
  opts: SpawnSupervisedOptions,
): SupervisedProcess {
  installProcessHandlers();
  if (terminating) throw new Error(`not starting ${name}: the process is shutting down`);
  // The child writes straight into the file: no pipe for the parent to drain, and the log
  // survives a parent crash for post-mortem reading.
  const fd = openSync(opts.logPath, 'a');
  const [file, argv] = withParentDeathSignal(command, args);
  let child: ChildProcess;
  try {
    child = spawn(file, argv, {
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: false,
    });
  } finally {
    closeSync(fd);
  }
  const entry = { child, name };
  live.add(entry);

  let status: ExitStatus | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    const settle = (s: ExitStatus): void => {
      if (status) return;
      status = s;
      live.delete(entry);
      resolve(s);
    };
    child.once('exit', (code, signal) => settle({ code, signal }));
    // A failed spawn (ENOENT, EACCES) emits 'error' and never 'exit'.
    child.once('error', (err) => {
      spawnError = err;
      settle({ code: -1, signal: null });
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 10_000): Promise<void> => {
    stopping ??= (async () => {
      if (status) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return stopping;
  };

  return {
    name,
    pid: child.pid ?? -1,
    logPath: opts.logPath,
    exited,
    hasExited: () => status !== undefined,
    stop,
    logTail: (lines = 30) => {
      const prefix = spawnError ? `${name}: ${spawnError.message}\n` : '';
      return prefix + tailOfFile(opts.logPath, lines);
    },
  };
}

/**
 * Runs fn synchronously when the process exits (after children were SIGKILLed), e.g. to remove
 * a temp dir. Returns a function that unregisters it.
 */
export function onProcessExit(fn: () => void): () => void {
  installProcessHandlers();
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/** rm -rf that tolerates a child still closing files in the directory. */
export function removeDirSync(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

function tailOfFile(path: string, lines: number): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function killAll(signal: NodeJS.Signals): void {
  for (const { child } of live) {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function installProcessHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    killAll('SIGKILL');
    for (const fn of exitCleanups) {
      try {
        fn();
      } catch {
        /* exiting anyway */
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      terminating = true;
      killAll('SIGTERM');
      // If the program has its own handler (e.g. the test runner tears down gracefully), it
      // decides when to exit; otherwise keep the default meaning of the signal: exit now.
      if (process.listenerCount(sig) <= 1) {
        process.exit(128 + (osConstants.signals[sig] ?? 1));
      }
    };
    process.on(sig, handler);
  }
}
