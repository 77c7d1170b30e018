// Benchmark (prints figures, asserts nothing): how the CEL cost model (src/governance/cel-cost.ts)
// relates to time on this machine. For each kind of rule, on a request sized to cost about the
// runtime budget, it prints the units, the evaluation time, and ms per 1,000,000 units, next to
// the baseline of the same run: a rule of one comparison, evaluated as many times as its units
// add up to the same budget. The runtime limit (RUNTIME_COST_LIMIT) is chosen so the slowest
// kind stays around 0.1 s on an idle machine.
// Run: node test/bench/cel-cost.bench.ts   (no cluster needed)
import { compileExpression, toCelValue } from '../../src/governance/cel-compile.ts';
import { estimateCost, RUNTIME_COST_LIMIT, SCALAR, shapeOf } from '../../src/governance/cel-cost.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const strings = (n: number, len: number) => Array.from({ length: n }, (_, i) => `${i}-${'x'.repeat(Math.max(0, len - String(i).length - 1))}`);

const KINDS: Array<[string, string, (n: number) => unknown]> = [
  ['nested comprehension, short strings', 'request.args.all(a, request.args.all(b, a.size() + b.size() > 0))', (n) => ({ args: strings(n, 4) })],
  ['nested comprehension, concatenation', 'request.args.all(a, request.args.all(b, a + b != ""))', (n) => ({ args: strings(n, 100) })],
  ['regex over long strings', "request.args.all(a, a.matches('^[a-z0-9-]+$'))", (n) => ({ args: strings(n, 4000) })],
  ['map and filter building strings', 'request.args.map(a, a + a).filter(b, b.size() > 3).size() > 0', (n) => ({ args: strings(n, 4000) })],
  ['contains over a list', 'request.args.exists(a, a.contains("needle"))', (n) => ({ args: strings(n, 4000) })],
];

function timed(run: () => unknown): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    run();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function costOf(expression: string, request: unknown): { units: number; run: () => unknown } {
  const compiled = compileExpression(expression);
  if (!compiled.ok) throw new Error(compiled.error);
  const context = toCelValue({ request, profile: {}, now: new Date() }) as Record<string, unknown>;
  const units = estimateCost(compiled.program.ast, { request: shapeOf(context.request), profile: SCALAR, now: SCALAR });
  return { units, run: () => compiled.program(context) };
}

/** The largest n (up to 1,000 items) whose cost stays within the budget. */
function sizedToBudget(expression: string, make: (n: number) => unknown): number {
  let lo = 1;
  let hi = 1000;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (costOf(expression, make(mid)).units <= RUNTIME_COST_LIMIT) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const baseline = costOf('request.image == "alpine"', { image: 'alpine' });
const repeats = Math.ceil(RUNTIME_COST_LIMIT / baseline.units);
const baselineMs = timed(() => {
  for (let i = 0; i < repeats; i++) baseline.run();
});
const baselinePerMillion = (baselineMs / (baseline.units * repeats)) * 1e6;
console.log(`cel-cost: runtime limit ${RUNTIME_COST_LIMIT} units; best of ${ROUNDS} rounds`);
console.log(`  baseline: one comparison × ${repeats} = ${baseline.units * repeats} units in ${baselineMs.toFixed(1)} ms (${baselinePerMillion.toFixed(1)} ms per 1e6 units)`);
for (const [label, expression, make] of KINDS) {
  const n = sizedToBudget(expression, make);
  const { units, run } = costOf(expression, make(n));
  const ms = timed(run);
  const perMillion = (ms / units) * 1e6;
  console.log(`  ${label.padEnd(38)} ${String(n).padStart(4)} items: ${String(units).padStart(7)} units in ${ms.toFixed(1).padStart(6)} ms = ${perMillion.toFixed(1).padStart(6)} ms per 1e6 units (${(perMillion / baselinePerMillion).toFixed(2)}× the baseline)`);
}
