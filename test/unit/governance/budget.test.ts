import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUDGET_DIMENSIONS, computeSecondsUsed, containerShare, exceededDimension, fitBudget, fitExecutionBudget, MIN_MEMORY_BYTES, remaining, wouldExceed } from '../../../src/governance/budget.ts';
import { allAllowed } from '../../../src/governance/decision.ts';
import { readUpstreamSchema, upstreamContractsDir, UPSTREAM_MISSING } from '../../support/upstream.ts';
import { CEILINGS } from './fixtures.ts';

test('the dimension list is the upstream one, in upstream order', (t) => {
  const dir = upstreamContractsDir();
  if (!dir) return t.skip(UPSTREAM_MISSING);
  const upstream = readUpstreamSchema(dir)['$defs'].budget;
  assert.deepEqual([...BUDGET_DIMENSIONS], upstream.required);
  assert.deepEqual([...BUDGET_DIMENSIONS], Object.keys(upstream.properties));
});

test('missing dimensions take the ceiling; asked ones are kept', () => {
  const { effective, decisions } = fitBudget({ tokens: 500, wallClockSeconds: 60 }, CEILINGS);
  assert.ok(allAllowed(decisions));
  assert.deepEqual(effective, { ...CEILINGS, tokens: 500, wallClockSeconds: 60 });
  assert.equal(decisions.length, 1);
  assert.equal(decisions[0]?.rule, 'budget.ceilings');
});

test('no requested budget means the ceilings', () => {
  const { effective, decisions } = fitBudget(undefined, CEILINGS);
  assert.ok(allAllowed(decisions));
  assert.deepEqual(effective, CEILINGS);
});

test('a dimension over its ceiling is denied, naming the dimension and both numbers', () => {
  const { decisions, effective } = fitBudget({ tokens: 200_000, modelCalls: 10 }, CEILINGS);
  assert.equal(decisions.length, 1);
  assert.deepEqual(decisions[0], {
    gate: 'budget',
    rule: 'budget.tokens',
    allowed: false,
    message: 'requested tokens 200000 exceeds the profile ceiling 100000',
  });
  assert.equal(effective.tokens, CEILINGS.tokens, 'effective never exceeds the ceiling');
});

test('every over-ceiling dimension gets its own denial, in upstream order', () => {
  const { decisions } = fitBudget({ agentConcurrency: 3, modelCalls: 101, sandboxMemoryBytes: 1 }, CEILINGS);
  assert.deepEqual(decisions.map((d) => d.rule), ['budget.modelCalls', 'budget.agentConcurrency']);
  assert.ok(decisions.every((d) => !d.allowed));
});

test('asking exactly the ceiling is allowed', () => {
  assert.ok(allAllowed(fitBudget({ ...CEILINGS }, CEILINGS).decisions));
});

test('non-integer or negative asks and missing ceilings are denied', () => {
  assert.equal(fitBudget({ tokens: -1 }, CEILINGS).decisions[0]?.rule, 'budget.tokens');
  assert.equal(fitBudget({ tokens: 1.5 }, CEILINGS).decisions[0]?.allowed, false);
  const { tokens: _, ...partial } = CEILINGS;
  const result = fitBudget({}, partial as typeof CEILINGS);
  assert.equal(result.decisions[0]?.rule, 'budget.tokens');
  assert.equal(result.decisions[0]?.allowed, false);
  assert.equal(result.effective.tokens, 0);
});

test('remaining never goes negative and ignores missing usage', () => {
  const left = remaining(CEILINGS, { modelCalls: 30, tokens: 200_000 });
  assert.equal(left.modelCalls, 70);
  assert.equal(left.tokens, 0);
  assert.equal(left.connectorCalls, CEILINGS.connectorCalls);
});

test('exceededDimension reports the first dimension past its budget', () => {
  assert.equal(exceededDimension(CEILINGS, { modelCalls: 100 }), undefined, 'at the limit is not past it');
  assert.equal(exceededDimension(CEILINGS, { modelCalls: 101, tokens: 100_001 }), 'modelCalls');
  assert.equal(exceededDimension(CEILINGS, { tokens: 100_001 }), 'tokens');
});

test('wouldExceed answers "may one more happen"', () => {
  assert.equal(wouldExceed(CEILINGS, { modelCalls: 99 }, { modelCalls: 1 }), undefined);
  assert.equal(wouldExceed(CEILINGS, { modelCalls: 100 }, { modelCalls: 1 }), 'modelCalls');
  assert.equal(wouldExceed(CEILINGS, { agentConcurrency: 2 }, { agentConcurrency: 1 }), 'agentConcurrency');
  assert.equal(wouldExceed(CEILINGS, { tokens: 99_000 }, { tokens: 1500 }), 'tokens');
});

test('containerShare splits memory and scratch disk evenly and shares every other dimension', () => {
  const total = { ...CEILINGS, sandboxMemoryBytes: 100 << 20, localDiskBytes: 10_000_001 };
  const third = containerShare(total, 3);
  assert.equal(third.sandboxMemoryBytes, Math.floor((100 << 20) / 3));
  assert.equal(third.localDiskBytes, 3_333_333);
  assert.ok(third.sandboxMemoryBytes * 3 <= total.sandboxMemoryBytes, 'the containers together never get more than the execution');
  for (const d of BUDGET_DIMENSIONS.filter((d) => d !== 'sandboxMemoryBytes' && d !== 'localDiskBytes')) assert.equal(third[d], total[d], d);
  assert.deepEqual(containerShare(total, 1), total);
  assert.deepEqual(containerShare(total, 0), total, 'no containers is treated as one, never a division by zero');
});

test('fitExecutionBudget denies a memory budget whose share is below what a sandbox needs', () => {
  const ceilings = { ...CEILINGS, sandboxMemoryBytes: 64 << 20 };
  assert.equal(allAllowed(fitExecutionBudget({ sandboxMemoryBytes: 2 * MIN_MEMORY_BYTES }, ceilings, 2).decisions), true);
  const short = fitExecutionBudget({ sandboxMemoryBytes: 2 * MIN_MEMORY_BYTES - 2 }, ceilings, 2);
  assert.equal(allAllowed(short.decisions), false);
  assert.equal(short.decisions[0]?.rule, 'budget.sandboxMemoryBytes');
  assert.match(short.decisions[0]!.message, /split over 2 containers is 6291455 bytes each, below the 6291456 bytes/);
  assert.equal(allAllowed(fitExecutionBudget({ sandboxMemoryBytes: MIN_MEMORY_BYTES - 1 }, ceilings, 1).decisions), true, 'one container: the container admission says why');
  const over = fitExecutionBudget({ sandboxMemoryBytes: 1 << 30 }, ceilings, 2);
  assert.match(over.decisions[0]!.message, /exceeds the profile ceiling/, 'a ceiling denial is not replaced');
});

test('computeSecondsUsed sums every record, ignoring what is not a count', () => {
  assert.equal(computeSecondsUsed([{ status: { cpuGpuComputeSecondsUsed: 3 } }, { status: { cpuGpuComputeSecondsUsed: 4 } }, {}, { status: { cpuGpuComputeSecondsUsed: -1 } }]), 7);
  assert.equal(computeSecondsUsed([]), 0);
});
