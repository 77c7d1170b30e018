// The two timestamp formats the Kubernetes API uses. Writing them exactly as the API server
// does keeps recomputed values byte-identical (no spurious status diffs) and avoids
// depending on how a client library serializes Date.

/** metav1.Time: RFC 3339 in UTC, whole seconds ("2025-01-02T03:04:05Z"). */
export function metaTime(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** metav1.MicroTime: RFC 3339 in UTC with exactly six fractional digits (Event.eventTime, Lease.renewTime). */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
