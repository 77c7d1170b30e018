// Answers to questions the controller asks the API server again and again (may this user do
// this? is the admission policy installed?), shared and briefly remembered:
//   - a question asked while the same one is in flight waits for its answer (one request);
//   - an answer `keep` accepts is remembered for ttlMs; others (a denial, no answer at all)
//     are never remembered, so what changes them counts on the very next question.
// Access reviews: a burst of 1,000 executions by one delegator under one profile asks the same
// question 1,000 times, each a request the API server must authenticate, authorize and
// evaluate against RBAC, in the same queue as the writes users wait for. Allows are kept 10 s,
// as the API server's own webhook authorizer keeps them (5 min by default there): removing a
// RoleBinding takes up to 10 s to stop new admissions; it never affected admitted ones anyway.

import { RecentMap } from '../operator/recent-map.ts';

export interface AnswerCacheOptions<T> {
  ttlMs: number;
  /** Which answers may be remembered. */
  keep: (answer: T) => boolean;
  /** Oldest answers are forgotten first beyond this many distinct questions (default 10,000). */
  maxEntries?: number;
  now?: () => number;
}

export class AnswerCache<T> {
  readonly #ttlMs: number;
  readonly #keep: (answer: T) => boolean;
  readonly #now: () => number;
  readonly #kept: RecentMap<string, { at: number; answer: T }>;
  readonly #inflight = new Map<string, Promise<T>>();

  constructor(opts: AnswerCacheOptions<T>) {
    this.#ttlMs = opts.ttlMs;
    this.#keep = opts.keep;
    this.#kept = new RecentMap(opts.maxEntries ?? 10_000);
    this.#now = opts.now ?? Date.now;
  }

  /** The remembered answer for `key` while it is fresh, without asking (a caller's fast path). */
  peek(key: string): T | undefined {
    const kept = this.#kept.get(key);
    return kept && this.#now() - kept.at < this.#ttlMs ? kept.answer : undefined;
  }

  /** The remembered or in-flight answer for `key`, else ask() once for everyone asking now. */
  answer(key: string, ask: () => Promise<T>): Promise<T> {
    const kept = this.#kept.get(key);
    if (kept && this.#now() - kept.at < this.#ttlMs) return Promise.resolve(kept.answer);
    if (kept) this.#kept.delete(key);
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const asked = ask().then((answer) => {
      if (this.#keep(answer)) this.#kept.remember(key, { at: this.#now(), answer });
      return answer;
    });
    this.#inflight.set(key, asked);
    const done = () => this.#inflight.delete(key);
    asked.then(done, done);
    return asked;
  }
}
