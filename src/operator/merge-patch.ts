// JSON merge patch (RFC 7386) between two JSON values, pure.
//
// The status writer sends the difference instead of the whole status: with a merge patch, a
// field that is only left out stays on the server, so removing one needs an explicit null,
// and that is exactly what this computes. Arrays are replaced whole (merge patch has no way
// to address elements), which suits conditions: they are always written as a full list.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The patch that turns `from` into `to`, or undefined when they are already equal.
 * Keys absent from `to` become null; undefined values in `to` count as absent.
 */
export function createMergePatch(from: unknown, to: unknown): Json | undefined {
  if (!isObject(from) || !isObject(to)) {
    return jsonEqual(from, to) ? undefined : (normalize(to) ?? null);
  }
  const patch: Record<string, Json> = {};
  for (const key of Object.keys(from)) {
    if (from[key] !== undefined && (!(key in to) || to[key] === undefined)) patch[key] = null;
  }
  for (const [key, value] of Object.entries(to)) {
    if (value === undefined) continue;
    if (!(key in from) || from[key] === undefined) {
      patch[key] = normalize(value) ?? null;
      continue;
    }
    const sub = createMergePatch(from[key], value);
    if (sub !== undefined) patch[key] = sub;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** Structural equality of JSON values; undefined object members count as absent. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

/** Drops undefined members, as JSON.stringify would. */
function normalize(v: unknown): Json | undefined {
  if (v === undefined) return undefined;
  return JSON.parse(JSON.stringify(v)) as Json;
}
