// The profile's own rules: CEL expressions over `request` (the gate's PolicyRequest),
// `profile` (the profile spec, without its rules) and `now`. A rule allows only by evaluating
// to the boolean true; false, an error, another type, oversized input or a cost over the budget
// all deny, with a message naming the rule. Nothing here throws.
//
// Whether a rule runs depends only on the rule and the request: its cost on this request
// (cel-cost.ts) must fit the gate's budget, so the same request gets the same decision at
// execution admission and at its container record, on an idle machine and a busy one. The
// wall-clock guard stays as a last resort (a cost model is an estimate); when it fires, the
// denial says so (EVALUATION_STOPPED) and the condition carries its own reason.
import type { AgentMachineProfileSpec, PolicyGate } from '../api/types.generated.ts';
import { CelInputError, compileExpression, errorSummary, toCelValue } from './cel-compile.ts';
import { estimateCost, RUNTIME_COST_LIMIT, SCALAR, shapeOf } from './cel-cost.ts';
import type { CelSandbox } from './cel-sandbox.ts';
import { allow, deny, EVALUATION_STOPPED, type Decision } from './decision.ts';
import type { PolicyRequest } from './requests.ts';

export { MAX_EXPRESSION_LENGTH } from './cel-compile.ts';

type ProfileInput = { spec: AgentMachineProfileSpec };
type CelRule = NonNullable<AgentMachineProfileSpec['rules']>[number];

const GATES: readonly PolicyGate[] = ['toolGrant', 'modelProviderUse', 'networkProfile', 'containerExecution', 'artifactAccess'];

export type CelEvaluationOptions = {
  /**
   * The worker the rules run on. Whoever owns its lifetime creates it and closes it: the
   * controller process (one for every reconciler and the gateway), a CLI command, a test.
   */
  sandbox: CelSandbox;
  now?: Date;
  /** What all rules of one evaluation may cost together (cel-cost.ts units). */
  costLimit?: number;
  /** The wall-clock guard: how long all rules of one evaluation may take together. */
  budgetMs?: number;
};

/**
 * The last-resort wall-clock guard. A gate's rules within the cost budget take ~0.1 s at most
 * on an idle machine: the guard fires only if the cost model is badly wrong or the machine is
 * stalled for seconds.
 */
export const DEFAULT_CEL_BUDGET_MS = 2_000;

export function celRuleName(name: string): string {
  return `cel.${name}`;
}

function rulesOf(profile: ProfileInput): CelRule[] {
  const rules = profile.spec?.rules;
  return Array.isArray(rules) ? rules : [];
}

/** Every rule compiles, type-checks as bool and passes the static limits; one decision per rule. */
export function checkCelRules(profile: ProfileInput): Decision[] {
  return rulesOf(profile).map((rule) => {
    const gate = typeof rule.gate === 'string' ? rule.gate : 'unknown';
    const name = celRuleName(String(rule.name));
    if (!GATES.includes(rule.gate)) return deny(gate, name, `rule ${rule.name}: gate ${JSON.stringify(rule.gate)} is not a policy gate`);
    const compiled = compileExpression(rule.expression);
    return compiled.ok ? allow(gate, name, `rule ${rule.name} compiles`) : deny(gate, name, `rule ${rule.name} ${compiled.error}`);
  });
}

/** One decision per profile rule at the request's gate; none when the profile has no such rule. */
export function evaluateCelRules(profile: ProfileInput, request: PolicyRequest, options: CelEvaluationOptions): Decision[] {
  const gate = request.gate;
  const rules = rulesOf(profile).filter((r) => r.gate === gate);
  if (rules.length === 0) return [];

  let context: Record<string, unknown>;
  try {
    const { rules: _ownRules, ...spec } = profile.spec;
    context = toCelValue({ request, profile: spec, now: options.now ?? new Date() }) as Record<string, unknown>;
  } catch (error) {
    const why = error instanceof CelInputError ? error.message : errorSummary(error);
    return rules.map((r) => deny(gate, celRuleName(r.name), `rule ${r.name} not evaluated: ${why}`));
  }

  const sandbox = options.sandbox;
  const budgetMs = options.budgetMs ?? DEFAULT_CEL_BUDGET_MS;
  const deadline = performance.now() + budgetMs;
  const costLimit = options.costLimit ?? RUNTIME_COST_LIMIT;
  const shapes = { request: shapeOf(context.request), profile: shapeOf(context.profile), now: SCALAR };
  let spent = 0;
  return rules.map((rule) => {
    const name = celRuleName(rule.name);
    const compiled = sandbox.compiler.compile(rule.expression);
    if (!compiled.ok) return deny(gate, name, `rule ${rule.name} ${compiled.error}`);
    const cost = estimateCost(compiled.program.ast, shapes);
    if (spent + cost > costLimit) {
      const why = spent === 0 ? `its cost on this request is ${cost} units, over the limit of ${costLimit}` : `its cost on this request (${cost} units) does not fit what earlier rules left of the ${costLimit}-unit budget`;
      return deny(gate, name, `rule ${rule.name} not evaluated: ${why}`);
    }
    spent += cost;
    const left = deadline - performance.now();
    if (left <= 0) return deny(gate, name, `${EVALUATION_STOPPED}rule ${rule.name} not evaluated: the ${budgetMs}ms wall-clock guard was used up by earlier rules`);
    const result = sandbox.evaluate(rule.expression, context, left);
    switch (result.kind) {
      case 'bool':
        return result.value
          ? allow(gate, name, `rule ${rule.name} holds`)
          : deny(gate, name, rule.message ?? `rule ${rule.name} does not hold: ${rule.expression}`);
      case 'not-bool':
        return deny(gate, name, `rule ${rule.name} evaluated to ${result.type}, not bool`);
      case 'error':
        return deny(gate, name, `${result.stopped ? EVALUATION_STOPPED : ''}rule ${rule.name} failed: ${result.error}`);
    }
  });
}
