// Temp dirs for local servers (etcd data, certs, tokens, sockets) that are removed on every way
// out a JavaScript handler can see, and swept up by the next start after the ways it cannot
// (SIGKILL, OOM kill, power loss): each dir records its owner's pid, and creating a dir
// removes siblings whose owner is gone.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onProcessExit, removeDirSync } from './supervised-process.ts';

const OWNER_FILE = 'owner.pid';

export interface OwnedTempDir {
  path: string;
  /** Removes the dir now and forgets the exit hook. Idempotent. */
  remove(): void;
}

/** prefix like 'agent-machine-cp-' (kept short: unix socket paths must fit in 108 bytes). */
export async function createOwnedTempDir(prefix: string): Promise<OwnedTempDir> {
  sweepAbandoned(prefix);
  const path = await mkdtemp(join(tmpdir(), prefix));
  writeFileSync(join(path, OWNER_FILE), `${process.pid}\n`);
  const unregister = onProcessExit(() => removeDirSync(path));
  let removed = false;
  return {
    path,
    remove() {
      if (removed) return;
      removed = true;
      removeDirSync(path);
      unregister();
    },
  };
}

function sweepAbandoned(prefix: string): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(prefix));
  } catch {
    return;
  }
  for (const entry of entries) {
    const dir = join(tmpdir(), entry);
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(join(dir, OWNER_FILE), 'utf8'), 10);
    } catch {
      continue; // not ours, or still being created: leave it
    }
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
      try {
        removeDirSync(dir);
      } catch {
        /* someone else's permissions or a race with another sweeper: not our problem */
      }
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
