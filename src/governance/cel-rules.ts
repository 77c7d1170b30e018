// The profile's own rules: CEL expressions over `request` (the gate's PolicyRequest),
// `profile` (the profile spec, without its rules) and `now`. A rule allows only by evaluating
// to the boolean true; false, an error, another type, oversized input or a timeout all deny,
// with a message naming the rule. Nothing here throws.
import type { AgentMachineProfileSpec, PolicyGate } from '../api/types.generated.ts';
import { CelInputError, compileExpression, errorSummary, toCelValue } from './cel-compile.ts';
import { CelSandbox } from './cel-sandbox.ts';
import { allow, deny, type Decision } from './decision.ts';
import type { PolicyRequest } from './requests.ts';

export { MAX_EXPRESSION_LENGTH } from './cel-compile.ts';

type ProfileInput = { spec: AgentMachineProfileSpec };
type CelRule = NonNullable<AgentMachineProfileSpec['rules']>[number];

const GATES: readonly PolicyGate[] = ['toolGrant', 'modelProviderUse', 'networkProfile', 'containerExecution', 'artifactAccess'];

/** Shared by every policy evaluation in the process; started on first use. */
let defaultSandbox: CelSandbox | undefined;

export type CelEvaluationOptions = {
  now?: Date;
  /** Total time all rules of one evaluation may take together. */
  budgetMs?: number;
  sandbox?: CelSandbox;
};

export const DEFAULT_CEL_BUDGET_MS = 250;

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
export function evaluateCelRules(profile: ProfileInput, request: PolicyRequest, options: CelEvaluationOptions = {}): Decision[] {
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

  const sandbox = options.sandbox ?? (defaultSandbox ??= new CelSandbox());
  const budgetMs = options.budgetMs ?? DEFAULT_CEL_BUDGET_MS;
  const deadline = performance.now() + budgetMs;
  return rules.map((rule) => {
    const name = celRuleName(rule.name);
    const compiled = compileExpression(rule.expression);
    if (!compiled.ok) return deny(gate, name, `rule ${rule.name} ${compiled.error}`);
    const left = deadline - performance.now();
    if (left <= 0) return deny(gate, name, `rule ${rule.name} not evaluated: the ${budgetMs}ms CEL budget was used up by earlier rules`);
    const result = sandbox.evaluate(rule.expression, context, left);
    switch (result.kind) {
      case 'bool':
        return result.value
          ? allow(gate, name, `rule ${rule.name} holds`)
          : deny(gate, name, rule.message ?? `rule ${rule.name} does not hold: ${rule.expression}`);
      case 'not-bool':
        return deny(gate, name, `rule ${rule.name} evaluated to ${result.type}, not bool`);
      case 'error':
        return deny(gate, name, `rule ${rule.name} failed: ${result.error}`);
    }
  });
}
