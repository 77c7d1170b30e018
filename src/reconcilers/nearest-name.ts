// "did you mean …": the existing name nearest to a mistyped one, by edit distance, pure.
// Close enough means at most a third of the name's characters (and at least 1, at most 3)
// changed: "personel" → "personal", but "prod" does not suggest "dev".

/** Levenshtein distance (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The candidate nearest to name within the threshold; ties go to the alphabetically first. */
export function nearestName(name: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  let best: { name: string; d: number } | undefined;
  for (const c of candidates) {
    if (c === name) continue;
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d > limit) continue;
    if (!best || d < best.d || (d === best.d && c < best.name)) best = { name: c, d };
  }
  return best?.name;
}

/** " (did you mean personal?)" or "". */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const near = nearestName(name, candidates);
  return near ? ` (did you mean ${near}?)` : '';
}
