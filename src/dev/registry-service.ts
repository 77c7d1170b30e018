// A real OCI registry (the CNCF distribution registry, Debian's docker-registry package) on a
// loopback port, for the embedded default (`make run`) and the tests: agent outputs are pushed
// to it as OCI artifacts. A cluster install points at the user's registry instead.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './free-ports.ts';
import { spawnSupervised } from './supervised-process.ts';

export interface RegistryServiceOptions {
  /** The docker-registry binary (scripts/ensure-registry.sh prints it). */
  binPath: string;
  /** Where the registry keeps its config, log and blobs (kept across runs when it is). */
  dataDir: string;
  /** Default 30 s. */
  startTimeoutMs?: number;
  /** A fixed loopback port (a registry started again where clients expect it); default a free one. */
  port?: number;
}

export interface RegistryService {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as image references name it. */
  host: string;
  logPath: string;
  startupMs: number;
  stop(): Promise<void>;
}

export async function startRegistryService(opts: RegistryServiceOptions): Promise<RegistryService> {
  mkdirSync(join(opts.dataDir, 'storage'), { recursive: true });
  const logPath = join(opts.dataDir, 'registry.log');
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  // Another process can take the free port before the registry binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePorts(1))[0];
    const configPath = join(opts.dataDir, 'config.yml');
    writeFileSync(configPath, registryConfig(join(opts.dataDir, 'storage'), port!));
    const started = performance.now();
    const proc = spawnSupervised('docker-registry', opts.binPath, ['serve', configPath], { logPath });
    const url = `http://127.0.0.1:${port}`;
    while (!proc.hasExited() && Date.now() < deadline && !(await answers(url))) await sleep(50);
    if (!proc.hasExited() && (await answers(url))) {
      let stopped: Promise<void> | undefined;
      return { url, host: `127.0.0.1:${port}`, logPath, startupMs: Math.round(performance.now() - started), stop: () => (stopped ??= proc.stop()) };
    }
    await proc.stop();
    if (attempt >= 3 || opts.port !== undefined || Date.now() >= deadline) throw new Error(`docker-registry did not answer GET /v2/ on ${url}:\n${proc.logTail()}`);
  }
}

/** The registry's configuration: filesystem storage, loopback only, deletes allowed (retention). */
export function registryConfig(rootDirectory: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(rootDirectory)}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}
