// Shutdown drains wait for work in flight, but only so long: a reconcile or an Event write
// that hangs must not keep a SIGTERMed controller from exiting.

/** True when p settles within ms, false when the time runs out first (p is left to finish). */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = p.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, timedOut]).finally(() => clearTimeout(timer));
}
