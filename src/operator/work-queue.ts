// A controller work queue (client-go's workqueue semantics):
//   - a key waits at most once: adding a waiting key again is a no-op (events coalesce);
//   - a key is never processed by two workers at once: added while it is being processed, it
//     is marked dirty and runs once more after the current run (so no event is lost);
//   - per-key exponential backoff for failures (addRateLimited / forget), and addAfter;
//   - shutdown that stops taking work and waits for in-flight runs, with a timeout.
// The queue is push-based: it calls `process(key)` for each key. Keys are strings
// ("ns/name") because only the key, never a stale object, is worth queueing: the reconciler
// reads the current state from the informer cache when it runs.
//
// Waiting keys are a plain FIFO of strings. (It was p-queue, which holds a closure, a promise
// and an AsyncResource per queued task: 11 MB for the 10,000 keys a controller's first list
// enqueues, 1.1 KB a key, against about 40 bytes now.) Delayed keys share one timer, armed for
// the earliest: every cached object usually has a requeue pending (expiry, periodic checks),
// and a Node timer each was about 250 bytes per object.
import { backoffDelay } from './backoff.ts';
import { settlesWithin } from './deadline.ts';

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
  readonly #concurrency: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #onError: (key: string, err: unknown) => void;

  /** Waiting for a worker, in order: #fifo[#head..]; #waiting is the same keys as a set. */
  #fifo: string[] = [];
  #head = 0;
  readonly #waiting = new Set<string>();
  /** Being processed right now. */
  readonly #processing = new Set<string>();
  /** Added while being processed: run again once the current run ends. */
  readonly #dirty = new Set<string>();
  /** Delayed adds: the earliest pending time per key. */
  readonly #delayed = new Map<string, number>();
  /** The same as a min-heap by time; entries a key's earlier add superseded are skipped when due. */
  #due: Due[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  readonly #failures = new Map<string, number>();
  /** Resolved by shutdown() waiters once nothing is in flight. */
  readonly #idle = new Set<() => void>();
  #started: boolean;
  #shuttingDown = false;

  constructor(process: (key: string) => Promise<void>, opts: WorkQueueOptions = {}) {
    this.#process = process;
    this.#concurrency = Math.max(1, opts.concurrency ?? 1);
    this.#baseDelayMs = opts.baseDelayMs ?? 100;
    this.#maxDelayMs = opts.maxDelayMs ?? 5 * 60_000;
    this.#onError = opts.onError ?? ((key) => void this.addRateLimited(key));
    this.#started = opts.autoStart ?? false;
  }

  /** Starts (or resumes) the workers. */
  start(): void {
    if (this.#shuttingDown) return;
    this.#started = true;
    this.#dispatch();
  }

  get started(): boolean {
    return this.#started;
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
    this.#fifo.push(key);
    this.#dispatch();
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
    if (pending !== undefined && pending <= at) return;
    this.#delayed.set(key, at);
    pushDue(this.#due, { at, key });
    this.#arm();
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
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#delayed.clear();
    this.#due = [];
    this.#fifo = [];
    this.#head = 0;
    this.#waiting.clear();
    this.#dirty.clear();
    if (this.#processing.size === 0) return true;
    let onIdle: (() => void) | undefined;
    const idle = new Promise<void>((resolve) => {
      onIdle = resolve;
      this.#idle.add(onIdle);
    });
    try {
      return await settlesWithin(idle, timeoutMs);
    } finally {
      this.#idle.delete(onIdle!);
    }
  }

  /** Sets the timer for the earliest delayed key, unless it is already set for that time or earlier. */
  #arm(): void {
    const next = this.#due[0];
    if (next === undefined || (this.#timer !== undefined && this.#timerAt <= next.at)) return;
    clearTimeout(this.#timer);
    this.#timerAt = next.at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, next.at - Date.now()));
    // Pending retries must not keep a finished process alive.
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = Date.now();
    while (this.#due.length > 0 && this.#due[0]!.at <= now) {
      const { at, key } = popDue(this.#due);
      if (this.#delayed.get(key) !== at) continue;
      this.#delayed.delete(key);
      this.add(key);
    }
    this.#arm();
  }

  /** Hands waiting keys to free workers. */
  #dispatch(): void {
    while (this.#started && !this.#shuttingDown && this.#processing.size < this.#concurrency && this.#head < this.#fifo.length) {
      const key = this.#fifo[this.#head++]!;
      // Drop the consumed front now and then, so the array does not grow without bound.
      if (this.#head > 1024 && this.#head * 2 > this.#fifo.length) {
        this.#fifo = this.#fifo.slice(this.#head);
        this.#head = 0;
      }
      this.#waiting.delete(key);
      this.#processing.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
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
      if (this.#processing.size === 0) for (const resolve of this.#idle) resolve();
      this.#dispatch();
    }
  }
}

interface Due {
  at: number;
  key: string;
}

function pushDue(heap: Due[], item: Due): void {
  heap.push(item);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if (heap[parent]!.at <= item.at) break;
    heap[i] = heap[parent]!;
    heap[parent] = item;
    i = parent;
  }
}

function popDue(heap: Due[]): Due {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < heap.length && heap[l]!.at < heap[min]!.at) min = l;
      if (r < heap.length && heap[r]!.at < heap[min]!.at) min = r;
      if (min === i) break;
      [heap[i], heap[min]] = [heap[min]!, heap[i]!];
      i = min;
    }
  }
  return top;
}
