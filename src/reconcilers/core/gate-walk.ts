// The admission walk every governed kind shares: its pure decision is asked first with the
// facts at hand (caches), and while it answers "I need X" (authorization, budget, policy, a
// probe...) the kind's fetcher for X adds that fact and it is asked again. Facts are fetched
// one at a time and only when needed: an object already decided by its profile costs no
// access review.
export type Needing<N extends string> = { need: N };
export type Fetchers<F, N extends string> = { [K in N]: (facts: F) => Promise<void> | void };

/** Bounded: a decision that keeps needing facts is a bug, reported instead of looping. */
const MAX_STEPS = 8;

export async function walkGates<F, D extends { need?: string | undefined }>(
  facts: F,
  decide: (facts: F) => D,
  fetch: Fetchers<F, NonNullable<D['need']>>,
): Promise<Exclude<D, { need: string }>> {
  let d = decide(facts);
  for (let step = 0; d.need !== undefined && step < MAX_STEPS; step++) {
    await fetch[d.need as NonNullable<D['need']>](facts);
    d = decide(facts);
  }
  if (d.need !== undefined) throw new Error(`decision still needs ${d.need}`);
  return d as Exclude<D, { need: string }>;
}
