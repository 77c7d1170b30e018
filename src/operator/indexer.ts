// Named secondary indexes over an informer's cache (client-go's cache.Indexers): each index
// maps an object to the values it is filed under (its owners' UIDs, its profile's name...), so
// "which objects have value v?" is a lookup instead of a scan of the whole cache. The
// informer files every object it caches and unfiles every one it drops, in the same step,
// before any handler runs: a handler always reads indexes that agree with the cache.
export type IndexFunc<T> = (obj: T) => readonly string[];

interface Index<T> {
  fn: IndexFunc<T>;
  /** value → keys filed under it. */
  byValue: Map<string, Set<string>>;
  /** key → the values it is filed under, to unfile it when it changes or goes. */
  valuesOf: Map<string, readonly string[]>;
}

const NONE: ReadonlySet<string> = new Set();

export class Indexer<T> {
  readonly #indexes = new Map<string, Index<T>>();

  /**
   * Adds an index and files `existing` under it. Defining a name again with the same function
   * is a no-op (several controllers share one informer); with another function it is a bug.
   */
  define(name: string, fn: IndexFunc<T>, existing: Iterable<[string, T]>): void {
    const known = this.#indexes.get(name);
    if (known) {
      if (known.fn !== fn) throw new Error(`index ${name} is already defined differently`);
      return;
    }
    const index: Index<T> = { fn, byValue: new Map(), valuesOf: new Map() };
    this.#indexes.set(name, index);
    for (const [key, obj] of existing) file(index, key, valuesOf(fn, obj));
  }

  /** Files obj (new or changed) under every index. An unchanged value keeps its place in line. */
  put(key: string, obj: T): void {
    for (const index of this.#indexes.values()) {
      const values = valuesOf(index.fn, obj);
      if (sameValues(index.valuesOf.get(key), values)) continue;
      unfile(index, key);
      file(index, key, values);
    }
  }

  remove(key: string): void {
    for (const index of this.#indexes.values()) unfile(index, key);
  }

  /** Keys filed under value in the named index (live: copy before changing the cache). */
  keys(name: string, value: string): ReadonlySet<string> {
    const index = this.#indexes.get(name);
    if (!index) throw new Error(`no index ${name}`);
    return index.byValue.get(value) ?? NONE;
  }
}

/**
 * The values obj is filed under, each once. An object the function cannot read (a malformed
 * object the API server still accepted) is filed nowhere: it must not stop the watch.
 */
function valuesOf<T>(fn: IndexFunc<T>, obj: T): readonly string[] {
  let values: readonly string[];
  try {
    values = fn(obj);
  } catch {
    return [];
  }
  return values.length < 2 ? values : [...new Set(values)];
}

function sameValues(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined) return b.length === 0;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function file<T>(index: Index<T>, key: string, values: readonly string[]): void {
  if (values.length === 0) return;
  index.valuesOf.set(key, values);
  for (const v of values) {
    let keys = index.byValue.get(v);
    if (!keys) index.byValue.set(v, (keys = new Set()));
    keys.add(key);
  }
}

function unfile<T>(index: Index<T>, key: string): void {
  const values = index.valuesOf.get(key);
  if (!values) return;
  index.valuesOf.delete(key);
  for (const v of values) {
    const keys = index.byValue.get(v)!;
    keys.delete(key);
    if (keys.size === 0) index.byValue.delete(v);
  }
}
