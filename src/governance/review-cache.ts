// Answers of SubjectAccessReviews, shared and briefly remembered. A burst of 1,000 executions
// by one delegator under one profile asks the same question 1,000 times; each question is a
// request the API server must authenticate, authorize and evaluate against RBAC, in the same
// queue as the writes users wait for. So:
//   - questions asked while the same one is in flight wait for its answer (one request);
//   - an "allowed" answer is remembered for allowTtlMs (10 s), as the API server's own webhook
//     authorizer remembers allows (5 min by default there). Removing a RoleBinding therefore
//     takes up to allowTtlMs to stop new admissions; it never affected admitted ones anyway.
//   - denials and unanswered questions are never remembered: granting RBAC after a denial, or
//     an API server coming back, counts on the very next question.
import type { AccessResult } from './access-review.ts';

export interface ReviewCacheOptions {
  allowTtlMs?: number;
  /** Oldest answers are forgotten first beyond this many (distinct user × permission pairs). */
  maxEntries?: number;
  now?: () => number;
}

export class ReviewCache {
  readonly #allowTtlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #allowed = new Map<string, { at: number; result: AccessResult }>();
  readonly #inflight = new Map<string, Promise<AccessResult>>();

  constructor(opts: ReviewCacheOptions = {}) {
    this.#allowTtlMs = opts.allowTtlMs ?? 10_000;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** The remembered or in-flight answer for `key`, else ask() once for everyone asking now. */
  answer(key: string, ask: () => Promise<AccessResult>): Promise<AccessResult> {
    const kept = this.#allowed.get(key);
    if (kept && this.#now() - kept.at < this.#allowTtlMs) return Promise.resolve(kept.result);
    if (kept) this.#allowed.delete(key);
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const asked = ask().then((result) => {
      if (result.allowed && !result.unavailable) this.#remember(key, result);
      return result;
    });
    this.#inflight.set(key, asked);
    const done = () => this.#inflight.delete(key);
    asked.then(done, done);
    return asked;
  }

  #remember(key: string, result: AccessResult): void {
    this.#allowed.delete(key);
    this.#allowed.set(key, { at: this.#now(), result });
    if (this.#allowed.size > this.#maxEntries) this.#allowed.delete(this.#allowed.keys().next().value!);
  }
}
