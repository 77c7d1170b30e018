// Was an exited container killed for exceeding its memory limit?
//
// podman never sets State.OOMKilled (cgroup v1 here; no 'oom' event, and the memcg counters are
// gone with the container's cgroup), so an exit code 137 of a container with a memory limit
// counts as OOM-killed unless the controller killed it: remembered in memory when this process
// called stop(), and otherwise (after a controller restart) looked up in the engine's event
// log, where every API kill leaves a 'kill' event (stop() sends SIGTERM and SIGKILL as kills for
// that reason: podman logs its 'stop' event only sometimes). A podman event log lives under
// /run: after a host reboot a cancelled container's 137 would read as OOM, so a reconciler that
// cancelled an execution should trust its own record over oomKilled.
import type Dockerode from 'dockerode';
import type { ContainerInspectInfo } from 'dockerode';
import type { Logger } from '../../observability/logger.ts';
import { JsonLines } from './engine-events.ts';
import type { EngineEvent } from './engine-events.ts';

/** What inspect says about an exited container that the verdict depends on. */
export interface ExitFacts {
  State: Pick<ContainerInspectInfo['State'], 'OOMKilled' | 'ExitCode'>;
  HostConfig: Pick<ContainerInspectInfo['HostConfig'], 'Memory'>;
}

/**
 * The verdict when the container's state (and this process' memory of stopping it) decides it;
 * undefined when only the engine's event log can tell.
 */
export function oomFromState(info: ExitFacts, stoppedByUs: boolean): boolean | undefined {
  if (info.State.OOMKilled) return true;
  if (info.State.ExitCode !== 137 || !((info.HostConfig.Memory ?? 0) > 0)) return false;
  if (stoppedByUs) return false;
  return undefined;
}

/** OOM verdicts of one engine's exited containers, looked up in its event log once each. */
export class OomInference {
  readonly #docker: Dockerode;
  readonly #log: Logger;
  /** OOM verdict per exited container id (an exited container's state no longer changes). */
  readonly #verdicts = new Map<string, boolean>();

  constructor(docker: Dockerode, log: Logger) {
    this.#docker = docker;
    this.#log = log;
  }

  async oomKilled(info: ContainerInspectInfo, stoppedByUs: boolean): Promise<boolean> {
    const known = oomFromState(info, stoppedByUs);
    if (known !== undefined) return known;
    const cached = this.#verdicts.get(info.Id);
    if (cached !== undefined) return cached;
    const verdict = !(await this.#stopOrKillRecorded(info));
    this.#verdicts.set(info.Id, verdict);
    return verdict;
  }

  /** The container was removed: its verdict is no longer asked for. */
  forget(containerId: string): void {
    this.#verdicts.delete(containerId);
  }

  /**
   * Whether the engine's event log holds an API stop or kill of this container (a controller
   * that stopped it and then restarted has no memory of it). Replays the container's events
   * from its creation and stops reading at its 'die'. (podman answers nothing at all when
   * `until` is in the past and waits for it when in the future, so no `until`.)
   */
  async #stopOrKillRecorded(info: ContainerInspectInfo, timeoutMs = 3_000): Promise<boolean> {
    const created = Date.parse(info.Created);
    const since = Number.isFinite(created) ? Math.floor(created / 1000) - 1 : 0;
    const stream = (await this.#docker.getEvents({ since, filters: { type: ['container'], container: [info.Id] } })) as NodeJS.ReadableStream & {
      destroy(): void;
    };
    const lines = new JsonLines();
    return await new Promise<boolean>((resolve) => {
      let done = false;
      let afterDie: NodeJS.Timeout | undefined;
      const finish = (found: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(afterDie);
        stream.destroy();
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.#log.warn({ id: info.Id.slice(0, 12) }, 'engine event log did not reach the container exit in time; treating exit 137 as OOM');
        finish(false);
      }, timeoutMs);
      stream.on('data', (chunk: Buffer) =>
        lines.push(chunk, (value) => {
          const e = value as EngineEvent;
          const action = (e.Action ?? e.status ?? '').split(':')[0];
          if (action === 'stop' || action === 'kill') finish(true);
          // A kill is logged before the die it causes; the short wait only covers a writer
          // that logged out of order.
          else if (action === 'die' || action === 'died' || action === 'destroy' || action === 'remove') afterDie ??= setTimeout(() => finish(false), 150);
        }),
      );
      stream.on('end', () => finish(false));
      stream.on('error', () => finish(false));
    });
  }
}
