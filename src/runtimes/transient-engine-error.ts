// podman (4.3) answers some calls with `500 read /proc/<pid>/cgroup: no such process` when the
// container's process exits between two of the engine's own steps (inspect and stats read the
// process' cgroup; start reads it right after the process ran). Nothing is wrong: asked again a
// moment later, the engine answers from the exited state. Such an answer must be retried by the
// runtime, never surface as a failure of the record.
import { setTimeout as sleep } from 'node:timers/promises';

/** An engine answer that means "asked during a state change", not "no". */
export function isTransientEngineError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  if ((err as { statusCode?: unknown }).statusCode !== 500) return false;
  const message = err instanceof Error ? err.message : '';
  const json = (err as { json?: { message?: unknown } }).json;
  const text = `${message} ${typeof json?.message === 'string' ? json.message : ''}`;
  return /\/proc\/\d+\/[\w.]+: no such process/.test(text);
}

export interface TransientRetry {
  /** Attempts in all (the first included). */
  attempts: number;
  /** Delay before the second attempt; doubled for each further one. */
  firstDelayMs: number;
}

/** Five attempts over ~0.75 s: podman settles the exited state within a few milliseconds. */
export const ENGINE_RETRY: TransientRetry = { attempts: 5, firstDelayMs: 50 };

/**
 * Runs `call` again while the engine answers with a transient error. Only for calls that are
 * safe to repeat (reads, forced removal); a start is checked by its caller instead.
 */
export async function retryTransient<T>(call: () => Promise<T>, retry: TransientRetry = ENGINE_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= retry.attempts || !isTransientEngineError(err)) throw err;
      await sleep(retry.firstDelayMs * 2 ** (attempt - 1));
    }
  }
}
