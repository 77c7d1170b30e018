// A controller work queue (client-go's workqueue semantics) on top of p-queue, which only
// supplies the worker pool. What the queue adds:
//   - a key waits at most once: adding a waiting key again is a no-op (events coalesce);
//   - a key is never processed by two workers at once: added while it is being processed, it
//     is marked dirty and runs once more after the current run (so no event is lost);
//   - per-key exponential backoff for failures (addRateLimited / forget), and addAfter;
//   - shutdown that stops taking work and waits for in-flight runs, with a timeout.
// The queue is push-based: it calls `process(key)` for each key. Keys are strings
// ("ns/name") because only the key, never a stale object, is worth queueing: the reconciler
// reads the current state from the informer cache when it runs.
import PQueue from 'p-queue';
import { backoffDelay } from './backoff.ts';

export interface WorkQueueOptions {
  /** Parallel workers (default 1). Different keys only: one key never runs twice at once. */
  concurrency?: number;
  /** First retry delay after a failure (default 100 ms). */
  baseDelayMs?: number;
  /** Cap of the per-key backoff (default 5 min). */
  maxDelayMs?: number;
  /**
   * Called when process() throws. Default: addRateLimited(key). The controller handles its
   * own errors; this only guarantees nothing escapes as an unhandled rejection.
   */
  onError?: (key: string, err: unknown) => void;
  /** Start workers immediately (default false: keys queue up until start()). */
  autoStart?: boolean;
}

export class WorkQueue {
  readonly #process: (key: string) => Promise<void>;
  readonly #pool: PQueue;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #onError: (key: string, err: unknown) => void;

  /** Waiting for a worker. */
  readonly #waiting = new Set<string>();
  /** Being processed right now. */
  readonly #processing = new Set<string>();
  /** Added while being processed: run again once the current run ends. */
  readonly #dirty = new Set<string>();
  /** Delayed adds: only the earliest pending one per key is kept. */
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<string, number>();
  #shuttingDown = false;

  constructor(process: (key: string) => Promise<void>, opts: WorkQueueOptions = {}) {
    this.#process = process;
    this.#baseDelayMs = opts.baseDelayMs ?? 100;
    this.#maxDelayMs = opts.maxDelayMs ?? 5 * 60_000;
    this.#onError = opts.onError ?? ((key) => void this.addRateLimited(key));
    this.#pool = new PQueue({ concurrency: opts.concurrency ?? 1, autoStart: opts.autoStart ?? false });
  }

  /** Starts (or resumes) the workers. */
  start(): void {
    if (!this.#shuttingDown) this.#pool.start();
  }

  get started(): boolean {
    return !this.#pool.isPaused;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#waiting.has(key)) return;
    this.#waiting.add(key);
    // p-queue rejects the promise of a task dropped by clear() (shutdown); nothing to do then.
    this.#pool.add(() => this.#run(key)).catch(() => {});
  }

  /** Adds the key after ms. If the key already has an earlier delayed add, that one stands. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    // Pending retries must not keep a finished process alive.
    timer.unref();
    this.#delayed.set(key, { at, timer });
  }

  /** Counts a failure of key and re-adds it after its backoff; returns that delay in ms. */
  addRateLimited(key: string): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const delay = backoffDelay(failures, { initialMs: this.#baseDelayMs, maxMs: this.#maxDelayMs });
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure count of key (after a successful reconcile). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Keys waiting for a worker (not those being processed or delayed). */
  depth(): number {
    return this.#waiting.size;
  }

  /** Keys being processed right now. */
  inFlight(): number {
    return this.#processing.size;
  }

  /** Keys with a pending addAfter / backoff. */
  delayed(): number {
    return this.#delayed.size;
  }

  /**
   * Stops taking work: drops waiting and delayed keys (the informers' initial list brings them
   * back on the next start) and waits up to timeoutMs for in-flight runs.
   * Resolves true when everything in flight finished, false on timeout.
   */
  async shutdown(timeoutMs = 30_000): Promise<boolean> {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#pool.clear();
    this.#waiting.clear();
    this.#dirty.clear();
    if (this.#pool.pending === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.#pool.onPendingZero().then(() => true as const), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #run(key: string): Promise<void> {
    this.#waiting.delete(key);
    this.#processing.add(key);
    try {
      await this.#process(key);
    } catch (err) {
      try {
        this.#onError(key, err);
      } catch {
        // An error handler that throws must not stop the worker.
      }
    } finally {
      this.#processing.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
    }
  }
}
