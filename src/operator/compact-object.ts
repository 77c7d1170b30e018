// What the informer keeps of each object it caches. Measured on a heap snapshot of the
// controller with 10,000 cached ToolGrantRecords (node 24): the cache held 41 MB, 4.1 KB per
// grant, of which
//   - 21 MB were strings, but only 3.75 MB of distinct ones: JSON.parse gives every object its
//     own copy of every string value, so 10,000 grants held 10,000 copies of the apiVersion,
//     the finalizer, each condition's type, reason and message, each decision's rule...;
//   - 4.3 MB were dictionary-mode property stores: `delete metadata.managedFields` turns
//     metadata into a hash table (448 bytes) instead of a plain object.
// Both are fixed here without changing a single value a reader sees.
import type { KubernetesObject } from '@kubernetes/client-node';

/** kubectl apply's copy of the whole object as the user last applied it; nothing here reads it. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what no reader of the cache uses: metadata.managedFields (often most of an object's
 * size) and the last-applied annotation (another copy of the spec). The objects are rebuilt
 * without them rather than `delete`d from, which would leave them in V8's slow dictionary mode.
 * Mutates and returns obj.
 */
export function stripUnread<T extends KubernetesObject>(obj: T): T {
  const meta = obj.metadata;
  if (!meta) return obj;
  const annotations = meta.annotations;
  const lastApplied = annotations !== undefined && LAST_APPLIED_ANNOTATION in annotations;
  if (meta.managedFields === undefined && !lastApplied) return obj;
  const { managedFields: _managedFields, ...rest } = meta;
  if (!lastApplied) {
    obj.metadata = rest;
    return obj;
  }
  const { [LAST_APPLIED_ANNOTATION]: _lastApplied, ...kept } = annotations;
  const { annotations: _annotations, ...others } = rest;
  obj.metadata = Object.keys(kept).length > 0 ? { ...others, annotations: kept } : others;
  return obj;
}

export interface StringInternerOptions {
  /** Strings remembered at most; when full, the table starts over (default 10,000). */
  maxEntries?: number;
  /** Longer strings are left alone (default 256): long ones rarely repeat. */
  maxLength?: number;
}

// Unique to each object (uid) or to each write (resourceVersion): remembering them would only
// push the strings that do repeat out of the table.
const UNIQUE_METADATA = new Set(['uid', 'resourceVersion']);

/**
 * Makes equal strings of different objects one string. Bounded: the table holds at most
 * maxEntries strings and starts over when full, so strings of objects long gone do not stay
 * forever; an object interned after a restart shares with the new table, not the old one,
 * which costs one more copy of each common string per generation, not one per object.
 */
export class StringInterner {
  #table = new Map<string, string>();
  readonly #maxEntries: number;
  readonly #maxLength: number;

  constructor(opts: StringInternerOptions = {}) {
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#maxLength = opts.maxLength ?? 256;
  }

  get size(): number {
    return this.#table.size;
  }

  intern(s: string): string {
    if (s.length > this.#maxLength) return s;
    const known = this.#table.get(s);
    if (known !== undefined) return known;
    if (this.#table.size >= this.#maxEntries) this.#table = new Map();
    this.#table.set(s, s);
    return s;
  }

  /** Interns every string value of a JSON-like object in place (keys already are, by V8). */
  internObject<T extends KubernetesObject>(obj: T): T {
    for (const key in obj) {
      const value = (obj as Record<string, unknown>)[key];
      if (key === 'metadata' && isPlainObject(value)) this.#internMetadata(value);
      else (obj as Record<string, unknown>)[key] = this.#internValue(value);
    }
    return obj;
  }

  #internMetadata(meta: Record<string, unknown>): void {
    for (const key in meta) {
      if (!UNIQUE_METADATA.has(key)) meta[key] = this.#internValue(meta[key]);
    }
  }

  #internValue(value: unknown): unknown {
    if (typeof value === 'string') return this.intern(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.#internValue(value[i]);
    } else if (isPlainObject(value)) {
      for (const key in value) value[key] = this.#internValue(value[key]);
    }
    return value;
  }
}

/** The one table every informer interns into: kinds share namespaces and the names of profiles, tools and identities. */
export const sharedStrings = new StringInterner();

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
