// Compiling profile CEL rules and shaping their input. Shared by the main thread (validation)
// and the evaluation worker (cel-worker.ts), so both accept exactly the same expressions.
//
// CEL has no loops, but it is not cheap by construction: comprehension macros multiply,
// `matches()` runs a backtracking JavaScript RegExp, and string functions cost per character.
// Measured with cel-js 8 (1000-item lists of 4 KiB strings): three nested `exists` ran for
// ~114 s, two nested `all` with `size()` ~31 s, `"^(a+)+$"` on 27 characters ~3 s. So:
// static limits here reject the obviously pathological rules at admission (nesting, regex
// shapes, an estimated worst-case cost: cel-cost.ts), input limits bound the data, each
// evaluation has a cost budget computed from its actual input (cel-rules.ts), and the
// worker's wall-clock guard (cel-sandbox.ts) is only the last resort.
import { Environment, type ASTNode, type ParseResult } from '@marcbachmann/cel-js';
import { COMPREHENSIONS, estimateCost, SCALAR, STATIC_COST_LIMIT, worstShape } from './cel-cost.ts';
import { MAX_INPUT_DEPTH, MAX_INPUT_LIST_ITEMS, MAX_INPUT_NODES, MAX_INPUT_STRING_LENGTH } from './cel-input-limits.ts';

export const MAX_EXPRESSION_LENGTH = 4096;
export const MAX_COMPREHENSION_NESTING = 2;
export { MAX_INPUT_DEPTH, MAX_INPUT_LIST_ITEMS, MAX_INPUT_NODES, MAX_INPUT_STRING_LENGTH } from './cel-input-limits.ts';
const CACHE_SIZE = 256;

// Bidi embeddings/overrides/isolates and marks, zero-width characters and the BOM.
const HIDDEN_CHARACTERS = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;


const environment = new Environment({
  enableOptionalTypes: true,
  limits: { maxAstNodes: 4096, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 32 },
})
  .registerVariable('request', 'map')
  .registerVariable('profile', 'map')
  .registerVariable('now', 'google.protobuf.Timestamp');

export type Compiled = { ok: true; program: ParseResult } | { ok: false; error: string };


/** First line only: cel-js errors carry a multi-line source excerpt that does not fit a condition message. */
export function errorSummary(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? '').trim().slice(0, 300);
}

/** Parse, type-check and vet an expression (no cache: see CelCompiler). */
export function compileExpression(expression: string): Compiled {
  const refused = refuseText(expression);
  return refused ?? compileUncached(expression);
}

/**
 * Compiles expressions and remembers each verdict (good or bad) by its text, least recently
 * used forgotten first. Owned by whoever evaluates rules often (the CEL sandbox, the worker).
 */
export class CelCompiler {
  readonly #cache = new Map<string, Compiled>();

  compile(expression: string): Compiled {
    const refused = refuseText(expression);
    if (refused) return refused;
    const hit = this.#cache.get(expression);
    if (hit) {
      this.#cache.delete(expression); // refresh recency
      this.#cache.set(expression, hit);
      return hit;
    }
    const compiled = compileUncached(expression);
    this.#cache.set(expression, compiled);
    if (this.#cache.size > CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value as string);
    return compiled;
  }
}

/** What is refused from the text alone, before parsing. */
function refuseText(expression: string): Compiled | undefined {
  if (typeof expression !== 'string' || expression.length === 0) return { ok: false, error: 'expression is empty' };
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    return { ok: false, error: `expression is ${expression.length} characters long; the limit is ${MAX_EXPRESSION_LENGTH}` };
  }
  // "Trojan Source" (CVE-2021-42574): bidi overrides and invisible characters make a rule read
  // differently than it evaluates. A string literal that needs one can use a \u escape.
  const hidden = HIDDEN_CHARACTERS.exec(expression);
  if (hidden) {
    const code = hidden[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return { ok: false, error: `contains the invisible or bidirectional control character U+${code}; write it as a \\u escape if a literal needs it` };
  }
  return undefined;
}

function compileUncached(expression: string): Compiled {
  let program: ParseResult;
  try {
    program = environment.parse(expression);
  } catch (error) {
    return { ok: false, error: `does not parse: ${errorSummary(error)}` };
  }
  try {
    const checked = program.check();
    if (!checked.valid) return { ok: false, error: `does not type-check: ${errorSummary(checked.error)}` };
    if (checked.type !== 'bool' && checked.type !== 'dyn') return { ok: false, error: `has type ${checked.type}; a rule must be a bool` };
  } catch (error) {
    return { ok: false, error: `does not type-check: ${errorSummary(error)}` };
  }
  const problem = vetAst(program.ast);
  if (problem !== undefined) return { ok: false, error: problem };
  const worst = estimateCost(program.ast, { request: worstShape(), profile: worstShape(), now: SCALAR });
  if (worst > STATIC_COST_LIMIT) {
    return {
      ok: false,
      error: `has an estimated worst-case cost of ${worst.toExponential(1)} units (lists of ${MAX_INPUT_LIST_ITEMS} items, strings of ${MAX_INPUT_STRING_LENGTH} characters); the limit is ${STATIC_COST_LIMIT.toExponential(0)}`,
    };
  }
  return { ok: true, program };
}

type Node = { op: string; args: unknown };

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

function childNodes(value: unknown, out: Node[] = []): Node[] {
  if (Array.isArray(value)) for (const item of value) childNodes(item, out);
  else if (isNode(value)) out.push(value);
  return out;
}

/** Static limits: comprehension nesting, and `matches()` only with a literal, non-catastrophic pattern. */
export function vetAst(root: ASTNode): string | undefined {
  const walk = (node: Node, nesting: number): string | undefined => {
    if (node.op === 'value' || node.op === 'id') return undefined;
    if ((node.op === 'rcall' || node.op === 'call') && Array.isArray(node.args)) {
      const name = node.args[0];
      if (name === 'matches') {
        const patternNode = childNodes(node.op === 'rcall' ? node.args[2] : node.args[1]).at(-1);
        if (!patternNode || patternNode.op !== 'value' || typeof patternNode.args !== 'string') {
          return 'matches() needs a string literal pattern (a pattern from the request could be catastrophic)';
        }
        const problem = regexProblem(patternNode.args);
        if (problem) return `matches(${JSON.stringify(patternNode.args)}): ${problem}`;
      }
      if (node.op === 'rcall' && typeof name === 'string' && COMPREHENSIONS.has(name)) {
        if (nesting + 1 > MAX_COMPREHENSION_NESTING) {
          return `comprehensions (${[...COMPREHENSIONS].join(', ')}) nest more than ${MAX_COMPREHENSION_NESTING} deep`;
        }
        // The range is evaluated once, the body once per element.
        for (const child of childNodes(node.args[1])) {
          const problem = walk(child, nesting);
          if (problem) return problem;
        }
        for (const child of childNodes(node.args[2])) {
          const problem = walk(child, nesting + 1);
          if (problem) return problem;
        }
        return undefined;
      }
    }
    for (const child of childNodes(node.args)) {
      const problem = walk(child, nesting);
      if (problem) return problem;
    }
    return undefined;
  };
  return walk(root as unknown as Node, 0);
}

/**
 * Rejects the exponential shapes: backreferences, and a repeated group (`*`, `+`, `{`) that
 * itself contains a repetition or an alternation, as in `(a+)+` or `(a|aa)*`. Polynomial
 * blow-ups remain possible; the evaluation deadline covers those.
 */
export function regexProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
  } catch (error) {
    return `invalid regular expression: ${errorSummary(error)}`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not allowed';
  const groups: { repeats: boolean }[] = [{ repeats: false }];
  const isRepeat = (c: string | undefined): boolean => c === '*' || c === '+' || c === '{';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    const top = groups[groups.length - 1]!;
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
    } else if (c === '(') {
      groups.push({ repeats: false });
    } else if (c === ')') {
      const group = groups.pop();
      const parent = groups[groups.length - 1];
      if (!group || !parent) return 'unbalanced parentheses';
      if (isRepeat(pattern[i + 1]) && group.repeats) return 'a repeated group contains a repetition or alternation (catastrophic backtracking)';
      parent.repeats ||= group.repeats || isRepeat(pattern[i + 1]);
    } else if (c === '|' || isRepeat(c)) {
      top.repeats = true;
    }
  }
  return undefined;
}

export class CelInputError extends Error {}

/**
 * Policy input as CEL values: integers become int (BigInt) so `x + 1` type-checks, undefined
 * fields disappear (so `has()` works), and anything over the limits, or anything that is not
 * plain data, is refused rather than truncated: a truncated list could hide the element a
 * rule is looking for.
 */
export function toCelValue(value: unknown): unknown {
  let nodes = 0;
  const convert = (v: unknown, depth: number, path: string): unknown => {
    if (++nodes > MAX_INPUT_NODES) throw new CelInputError(`input has more than ${MAX_INPUT_NODES} values`);
    if (depth > MAX_INPUT_DEPTH) throw new CelInputError(`${path} is nested deeper than ${MAX_INPUT_DEPTH}`);
    if (v === null || typeof v === 'boolean' || typeof v === 'bigint') return v;
    if (typeof v === 'string') {
      if (v.length > MAX_INPUT_STRING_LENGTH) throw new CelInputError(`${path} is longer than ${MAX_INPUT_STRING_LENGTH} characters`);
      return v;
    }
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new CelInputError(`${path} is not a finite number`);
      return Number.isInteger(v) ? BigInt(v) : v;
    }
    if (v instanceof Date) {
      if (Number.isNaN(v.getTime())) throw new CelInputError(`${path} is an invalid date`);
      return v;
    }
    if (Array.isArray(v)) {
      if (v.length > MAX_INPUT_LIST_ITEMS) throw new CelInputError(`${path} has ${v.length} items; the limit is ${MAX_INPUT_LIST_ITEMS}`);
      return v.map((item, i) => convert(item, depth + 1, `${path}[${i}]`));
    }
    if (typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
      const out: Record<string, unknown> = {};
      const entries = Object.entries(v).filter(([, item]) => item !== undefined);
      if (entries.length > MAX_INPUT_LIST_ITEMS) throw new CelInputError(`${path} has more than ${MAX_INPUT_LIST_ITEMS} fields`);
      for (const [key, item] of entries) out[key] = convert(item, depth + 1, `${path}.${key}`);
      return out;
    }
    throw new CelInputError(`${path} is not plain data (${typeof v})`);
  };
  return convert(value, 0, 'input');
}
