import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentMachineProfileSpec, PolicyGate } from '../../../src/api/types.generated.ts';
import { CelCompiler, compileExpression, regexProblem, toCelValue } from '../../../src/governance/cel-compile.ts';
import { checkCelRules, evaluateCelRules, MAX_EXPRESSION_LENGTH } from '../../../src/governance/cel-rules.ts';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import { policyDenialReason } from '../../../src/governance/decision.ts';
import type { PolicyRequest } from '../../../src/governance/requests.ts';
import { profile } from './fixtures.ts';

// The CEL worker this file's evaluations run on: the test file owns it.
const sandbox = new CelSandbox();
after(() => sandbox.close());

type Rule = NonNullable<AgentMachineProfileSpec['rules']>[number];
const container: PolicyRequest = { gate: 'containerExecution', image: 'ghcr.io/acme/agent:1.0', args: ['--task', 'summarize'], tenant: 'acme' };
const now = new Date('2029-06-01T12:00:00Z');

function withRules(...rules: Rule[]) {
  return profile('personal', { rules });
}
function one(expression: string, message?: string, gate: PolicyGate = 'containerExecution'): Rule {
  return { name: 'r', gate, expression, ...(message !== undefined ? { message } : {}) };
}
function evaluate(rule: Rule, request: PolicyRequest = container) {
  const decisions = evaluateCelRules(withRules(rule), request, { now, budgetMs: 2000, sandbox });
  assert.equal(decisions.length, 1, JSON.stringify(decisions));
  return decisions[0]!;
}

test('a rule evaluating to true allows', () => {
  const d = evaluate(one('request.image.startsWith("ghcr.io/acme/") && "--task" in request.args'));
  assert.deepEqual(d, { gate: 'containerExecution', rule: 'cel.r', allowed: true, message: 'rule r holds' });
});

test('a rule evaluating to false denies with its message', () => {
  const d = evaluate(one('!request.image.endsWith(":1.0")', 'pinned 1.0 is withdrawn'));
  assert.equal(d.allowed, false);
  assert.equal(d.message, 'pinned 1.0 is withdrawn');
});

test('false without a message gets a default naming the rule', () => {
  const d = evaluate(one('request.tenant == "globex"'));
  assert.equal(d.allowed, false);
  assert.match(d.message, /^rule r does not hold: request.tenant == "globex"$/);
});

test('request, profile and now are available; integers are CEL ints', () => {
  assert.equal(evaluate(one('profile.profileType == "personal" && profile.budgetCeilings.agentConcurrency + 1 == 3')).allowed, true);
  assert.equal(evaluate(one('size(request.args) + 1 == 3')).allowed, true);
  assert.equal(evaluate(one('now < timestamp("2030-01-01T00:00:00Z")')).allowed, true);
  assert.equal(evaluate(one('now > timestamp("2030-01-01T00:00:00Z")')).allowed, false);
  assert.equal(evaluate(one('!has(profile.rules)')).allowed, true, 'the profile variable leaves out the rules themselves');
});

test('only rules of the request gate run', () => {
  const p = withRules(one('false', undefined, 'toolGrant'), { name: 'other', gate: 'containerExecution', expression: 'true' });
  const decisions = evaluateCelRules(p, container, { now, sandbox });
  assert.deepEqual(decisions.map((d) => d.rule), ['cel.other']);
  assert.deepEqual(evaluateCelRules(profile('personal'), container, { now, sandbox }), []);
});

test('an evaluation error denies, naming the rule and the error', () => {
  const d = evaluate(one('request.missingField == "x"'));
  assert.equal(d.allowed, false);
  assert.match(d.message, /^rule r failed: .*missingField/);
});

test('a non-boolean result denies', () => {
  const d = evaluate(one('request.image'));
  assert.equal(d.allowed, false);
  assert.equal(d.message, 'rule r evaluated to string, not bool');
  const typed = evaluate(one('1 + 2'));
  assert.equal(typed.allowed, false);
  assert.match(typed.message, /has type int; a rule must be a bool/);
});

test('a parse error denies', () => {
  const d = evaluate(one('request.image ==', 'never shown'));
  assert.equal(d.allowed, false);
  assert.match(d.message, /^rule r does not parse: /);
});

test('an expression over 4096 characters denies without being parsed', () => {
  const long = `true${' && true'.repeat(600)}`;
  assert.ok(long.length > MAX_EXPRESSION_LENGTH);
  const d = evaluate(one(long));
  assert.equal(d.allowed, false);
  assert.match(d.message, /characters long; the limit is 4096/);
});

test('bidi overrides and invisible characters ("Trojan Source") make a rule invalid; an escape does not', () => {
  // Reads as a check that the tool is not admin; the U+202E reorders what the reader sees.
  const trojan = 'request.tool != "admin\u202e" && true';
  assert.ok(trojan.includes('\u202e'));
  const d = evaluate(one(trojan, undefined, 'toolGrant'), { gate: 'toolGrant', tool: 'admin' });
  assert.equal(d.allowed, false);
  assert.match(d.message, /invisible or bidirectional control character U\+202E/);
  for (const hidden of ['\u200b', '\u2066', '\ufeff', '\u061c']) {
    const compiled = compileExpression(`request.image == "x${hidden}"`);
    assert.equal(compiled.ok, false, JSON.stringify(hidden));
  }
  // The same character written as an escape is visible, and fine.
  assert.equal(compileExpression('request.tool != "admin\\u202e"').ok, true);
  assert.equal(checkCelRules(withRules(one(trojan)))[0]!.allowed, false);
});

test('checkCelRules validates every rule: one decision each', () => {
  const p = withRules(
    { name: 'good', gate: 'toolGrant', expression: 'request.tool != "fs.delete"' },
    { name: 'broken', gate: 'artifactAccess', expression: 'request.(' },
    { name: 'unknown-var', gate: 'artifactAccess', expression: 'secrets.token == ""' },
    { name: 'bad-gate', gate: 'everything' as PolicyGate, expression: 'true' },
  );
  const decisions = checkCelRules(p);
  assert.deepEqual(
    decisions.map((d) => [d.rule, d.allowed]),
    [
      ['cel.good', true],
      ['cel.broken', false],
      ['cel.unknown-var', false],
      ['cel.bad-gate', false],
    ],
  );
  assert.match(decisions[2]!.message, /does not type-check: .*secrets/);
});

test('malformed rules deny instead of throwing', () => {
  const p = withRules({ name: 'n', gate: 'containerExecution', expression: 42 as unknown as string });
  assert.equal(checkCelRules(p)[0]?.allowed, false);
  assert.equal(evaluateCelRules(p, container, { now, sandbox })[0]?.allowed, false);
});

test('parsed expressions are cached by text, and the cache is bounded', () => {
  const compiler = new CelCompiler();
  const expression = 'request.image != "cache-probe"';
  const first = compiler.compile(expression);
  assert.equal(compiler.compile(expression), first, 'same text, same compiled program');
  assert.notEqual(new CelCompiler().compile(expression), first, 'each compiler has its own cache');
  for (let i = 0; i < 300; i++) compiler.compile(`request.image != "filler-${i}"`);
  assert.notEqual(compiler.compile(expression), first, 'evicted after 300 newer expressions');
});

test('input over the limits is refused, not truncated', () => {
  const huge: PolicyRequest = { gate: 'containerExecution', image: 'alpine', args: Array.from({ length: 1001 }, (_, i) => `a${i}`) };
  const d = evaluate(one('true'), huge);
  assert.equal(d.allowed, false);
  assert.match(d.message, /not evaluated: input.request.args has 1001 items; the limit is 1000/);
  assert.throws(() => toCelValue({ s: 'x'.repeat(5000) }), /longer than 4096/);
  assert.throws(() => toCelValue({ f: () => 1 }), /not plain data/);
});

test('more than two nested comprehensions are rejected at validation', () => {
  const decisions = checkCelRules(withRules(one('request.args.exists(a, request.args.exists(b, request.args.exists(c, a == b)))')));
  assert.equal(decisions[0]?.allowed, false);
  assert.match(decisions[0]?.message ?? '', /nest more than 2 deep/);
  assert.equal(checkCelRules(withRules(one('request.args.all(a, request.args.all(b, a == b || a != b))')))[0]?.allowed, true);
});

test('matches() needs a literal pattern without catastrophic shapes', () => {
  assert.equal(checkCelRules(withRules(one('request.image.matches("^ghcr\\\\.io/[a-z]+/")')))[0]?.allowed, true);
  assert.match(checkCelRules(withRules(one('request.image.matches(request.tenant)')))[0]?.message ?? '', /string literal pattern/);
  assert.match(checkCelRules(withRules(one('request.image.matches("^(a+)+$")')))[0]?.message ?? '', /catastrophic/);
  assert.equal(regexProblem('(a|aa)*'), 'a repeated group contains a repetition or alternation (catastrophic backtracking)');
  assert.equal(regexProblem('(ab)+c*'), undefined);
  assert.match(regexProblem('(a)\\1') ?? '', /backreferences/);
  assert.match(regexProblem('(') ?? '', /invalid regular expression/);
});

test('a rule too costly for this request is denied without running, with the same answer every time', (t) => {
  const sandbox = new CelSandbox();
  t.after(() => sandbox.close());
  const heavy: PolicyRequest = { gate: 'containerExecution', image: 'alpine', args: Array.from({ length: 1000 }, (_, i) => `${'a'.repeat(4000)}${i}`) };
  // Measured without any limit on the development VM: ~31 s with cel-js 8.
  const nasty = one('request.args.all(a, request.args.all(b, a.size() > 0))');
  const answers = new Set<string>();
  for (const budgetMs of [1, 50, 5000]) {
    const started = performance.now();
    const [d] = evaluateCelRules(withRules(nasty), heavy, { now, budgetMs, sandbox });
    t.diagnostic(`wall-clock guard ${budgetMs} ms: decided in ${(performance.now() - started).toFixed(1)} ms`);
    answers.add(JSON.stringify(d));
  }
  assert.equal(answers.size, 1, `one answer whatever the clock allows: ${[...answers].join(' | ')}`);
  const [d] = [...answers].map((a) => JSON.parse(a));
  assert.equal(d.allowed, false);
  assert.match(d.message, /^rule r not evaluated: its cost on this request is \d+ units, over the limit of 500000$/);
  assert.equal(policyDenialReason([d]), 'PolicyDenied');
});

test('the wall-clock guard is only a last resort, and a denial it causes says so', (t) => {
  const sandbox = new CelSandbox();
  t.after(() => sandbox.close());
  const heavy: PolicyRequest = { gate: 'containerExecution', image: 'alpine', args: Array.from({ length: 1000 }, (_, i) => `${'a'.repeat(4000)}${i}`) };
  sandbox.evaluate('true', {}, 5000); // start the worker outside the measurement
  // Only a cost model this wrong (no limit at all) lets the clock decide.
  const started = performance.now();
  const [d] = evaluateCelRules(withRules(one('request.args.all(a, request.args.all(b, a.size() > 0))')), heavy, { now, budgetMs: 200, costLimit: Number.POSITIVE_INFINITY, sandbox });
  const elapsed = performance.now() - started;
  t.diagnostic(`stopped after ${elapsed.toFixed(0)} ms (guard 200 ms)`);
  assert.equal(d?.allowed, false);
  assert.match(d?.message ?? '', /^evaluation stopped: rule r failed: evaluation exceeded \d+ms and was stopped/);
  assert.equal(policyDenialReason([d!]), 'PolicyEvaluationStopped');
  assert.ok(elapsed < 1500, `took ${elapsed} ms`);

  const after = evaluateCelRules(withRules(one('request.image == "alpine"')), heavy, { now, budgetMs: 2000, sandbox });
  assert.equal(after[0]?.allowed, true, 'a fresh worker replaced the stopped one');
});

test('a doubly nested rule runs on a small request and is refused by cost on a large one', (t) => {
  const sandbox = new CelSandbox();
  t.after(() => sandbox.close());
  sandbox.evaluate('true', {}, 5000);
  const rule = one('request.args.all(a, request.args.exists(b, a == b))');
  const args = (n: number): PolicyRequest => ({ gate: 'containerExecution', image: 'alpine', args: Array.from({ length: n }, (_, i) => `arg-${i}`) });
  const started = performance.now();
  const [small] = evaluateCelRules(withRules(rule), args(100), { now, sandbox });
  t.diagnostic(`100 × 100 comprehension took ${(performance.now() - started).toFixed(0)} ms`);
  assert.equal(small?.allowed, true, small?.message);
  const [large] = evaluateCelRules(withRules(rule), args(1000), { now, sandbox });
  assert.equal(large?.allowed, false);
  assert.match(large?.message ?? '', /its cost on this request is \d+ units, over the limit/);
});

test('the cost budget is shared: a rule that does not fit what earlier rules left denies without running', (t) => {
  const sandbox = new CelSandbox();
  t.after(() => sandbox.close());
  const request: PolicyRequest = { gate: 'containerExecution', image: 'alpine', args: Array.from({ length: 100 }, (_, i) => `arg-${i}`) };
  const p = withRules(
    { name: 'first', gate: 'containerExecution', expression: 'request.args.all(a, request.args.exists(b, a == b))' },
    { name: 'second', gate: 'containerExecution', expression: 'request.args.all(a, request.args.exists(b, a == b))' },
    { name: 'quick', gate: 'containerExecution', expression: 'true' },
  );
  const decisions = evaluateCelRules(p, request, { now, costLimit: 100_000, sandbox });
  assert.deepEqual(decisions.map((d) => [d.rule, d.allowed]), [
    ['cel.first', true],
    ['cel.second', false],
    ['cel.quick', true],
  ]);
  assert.match(decisions[1]!.message, /does not fit what earlier rules left of the 100000-unit budget/);
});

test('a rule whose worst case needs days of CPU is refused when its profile is admitted', () => {
  const [d] = checkCelRules(withRules(one("request.args.all(a, request.args.all(b, (a + b + a + b + a + b).matches('ne+dle')))")));
  assert.equal(d?.allowed, false);
  assert.match(d?.message ?? '', /estimated worst-case cost of [\d.e+]+ units \(lists of 1000 items, strings of 4096 characters\); the limit is 1e\+10/);
});
