// Capped exponential backoff and an abortable sleep, shared by every retry loop in the
// operator (informer reconnects, status writes, work-queue failures).

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Default 2. */
  factor?: number;
  /**
   * Fraction of random spread added on top (default 0): many replicas or informers that lost
   * the same API server should not all come back in the same millisecond.
   */
  jitter?: number;
}

/** Delay of the nth failure (1-based): initial * factor^(n-1), capped at max. */
export function backoffDelay(failures: number, opts: BackoffOptions): number {
  const n = Math.max(1, failures);
  const raw = opts.initialMs * (opts.factor ?? 2) ** (n - 1);
  const capped = Math.min(opts.maxMs, raw);
  const jitter = opts.jitter ?? 0;
  return jitter > 0 ? Math.min(opts.maxMs, capped * (1 + Math.random() * jitter)) : capped;
}

export class Backoff {
  #failures = 0;
  readonly #opts: BackoffOptions;

  constructor(opts: BackoffOptions) {
    this.#opts = opts;
  }

  /** Counts a failure and returns how long to wait before the next attempt. */
  next(): number {
    this.#failures++;
    return backoffDelay(this.#failures, this.#opts);
  }

  reset(): void {
    this.#failures = 0;
  }

  get failures(): number {
    return this.#failures;
  }
}

/** Resolves after ms, or early (without throwing) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
