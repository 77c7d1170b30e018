// A Docker-compatible Engine API served by `podman system service` on a private unix socket.
// The docker runtime talks to it through dockerode exactly as it would to dockerd, so the
// dev command and the integration tests run real containers on machines without a Docker
// engine.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOwnedTempDir } from './owned-temp-dir.ts';
import type { OwnedTempDir } from './owned-temp-dir.ts';
import { spawnSupervised } from './supervised-process.ts';

export interface PodmanServiceOptions {
  /**
   * containers.conf for the service (CONTAINERS_CONF); see scripts/ensure-podman.sh for why
   * the defaults fail on these machines. Inherited from the environment when absent.
   */
  containersConf?: string;
  /** Folder for the socket and the service log; a temp dir (removed on stop) when absent. */
  socketDir?: string;
  podmanPath?: string;
  /** Default 30 s. */
  startTimeoutMs?: number;
  log?: (msg: string) => void;
}

export interface PodmanService {
  socketPath: string;
  /** unix://<socketPath>, for DOCKER_HOST */
  dockerHost: string;
  logPath: string;
  /** Milliseconds from spawn until /_ping answered. */
  startupMs: number;
  /** Stops the service, waits for it to exit, removes the socket (and the temp dir). */
  stop(): Promise<void>;
}

export async function startPodmanService(opts: PodmanServiceOptions = {}): Promise<PodmanService> {
  const log = opts.log ?? (() => {});
  // Under /tmp: a unix socket path must fit in 108 bytes.
  const tempDir = opts.socketDir === undefined ? await createOwnedTempDir('agent-machine-podman-') : undefined;
  const dir = opts.socketDir ?? (tempDir as OwnedTempDir).path;
  const socketPath = join(dir, 'podman.sock');
  const logPath = join(dir, 'podman-service.log');
  // A stale socket from a crashed run would make the service fail to bind.
  await rm(socketPath, { force: true });

  const env = { ...process.env };
  if (opts.containersConf !== undefined) env.CONTAINERS_CONF = opts.containersConf;
  const started = performance.now();
  const proc = spawnSupervised(
    'podman system service',
    opts.podmanPath ?? 'podman',
    // --time=0: never exit for idleness; the service lives exactly as long as we want it.
    ['system', 'service', '--time=0', `unix://${socketPath}`],
    { logPath, env },
  );

  const cleanup = async (): Promise<void> => {
    await proc.stop();
    await rm(socketPath, { force: true });
    tempDir?.remove();
  };

  try {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
    while (!(existsSync(socketPath) && (await pingDockerSocket(socketPath)))) {
      if (proc.hasExited()) {
        const { code, signal } = await proc.exited;
        throw new Error(`podman system service exited during start-up (code ${code}, signal ${signal}):\n${proc.logTail()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`podman system service did not answer /_ping on ${socketPath} in time:\n${proc.logTail()}`);
      }
      await sleep(50);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  const startupMs = Math.round(performance.now() - started);
  log(`podman: service ready on ${socketPath} after ${startupMs} ms`);

  let stopped: Promise<void> | undefined;
  return {
    socketPath,
    dockerHost: `unix://${socketPath}`,
    logPath,
    startupMs,
    stop: () => (stopped ??= cleanup()),
  };
}

/** True when an Engine API (podman or dockerd) on this unix socket answers GET /_ping with OK. */
export function pingDockerSocket(socketPath: string, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'OK'));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The socket path of a unix:// DOCKER_HOST; undefined for tcp:// and ssh:// hosts. */
export function socketPathFromDockerHost(dockerHost: string | undefined): string | undefined {
  if (!dockerHost?.startsWith('unix://')) return undefined;
  return dockerHost.slice('unix://'.length);
}

/**
 * Whether an already running engine can be used: the DOCKER_HOST given (default: the
 * environment's) names a unix socket that answers /_ping.
 */
export async function dockerHostAnswers(dockerHost: string | undefined = process.env.DOCKER_HOST): Promise<boolean> {
  const socketPath = socketPathFromDockerHost(dockerHost);
  return socketPath !== undefined && (await pingDockerSocket(socketPath));
}
