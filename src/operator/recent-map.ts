// A Map that forgets its oldest entries beyond a size: for what the controller remembers per
// object or per question (last audited decisions, cached answers, deleted objects' last copies)
// without growing with every object it ever saw.

export class RecentMap<K, V> extends Map<K, V> {
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    super();
    this.#maxEntries = maxEntries;
  }

  /** Sets key as the newest entry; drops the oldest while over the limit. */
  remember(key: K, value: V): this {
    this.delete(key);
    this.set(key, value);
    while (this.size > this.#maxEntries) this.delete(this.keys().next().value!);
    return this;
  }
}
