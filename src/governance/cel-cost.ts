// What a CEL rule costs, in abstract units, computed from the expression and the sizes of its
// input — never from a clock. Kubernetes does the same for its own CEL (validation rules,
// admission policies): an estimated cost with worst-case input sizes when the rule is admitted,
// and a cost budget for each evaluation. A decision then depends only on the rule and the
// request: the same request is allowed or denied alike on an idle machine and a busy one.
//
// The model (an upper bound, deliberately simple):
// - every node costs 1; a string operation costs 1 per STRING_CHARS_PER_UNIT characters it
//   reads or builds (concatenation, comparison, contains/startsWith/endsWith, case changes);
// - matches() reads its string once per REGEX_CHARS_PER_UNIT pattern characters (the patterns
//   are vetted against catastrophic backtracking in cel-compile.ts, so scanning is linear);
// - a comprehension (all, exists, exists_one, map, filter) costs its range plus the body and
//   ITERATION_UNITS of bookkeeping once per element; `in` on a list compares with every element;
// - size() of a string counts its code points (cel-js reads the whole string);
// - `&&`, `||` and `?:` are charged for every branch (short-circuiting is not assumed).
// Sizes flow through the expression: request.args is as long as the request's list, a + b is
// as long as both, map() makes a list as long as its range. What cannot be known is taken at
// its worst (WORST).
import type { ASTNode } from '@marcbachmann/cel-js';
import { MAX_INPUT_DEPTH, MAX_INPUT_LIST_ITEMS, MAX_INPUT_STRING_LENGTH } from './cel-input-limits.ts';

export const STRING_CHARS_PER_UNIT = 10;
export const REGEX_CHARS_PER_UNIT = 4;
export const ITERATION_UNITS = 3;

/**
 * What all the rules of one gate may cost together on the actual request. One unit is roughly
 * one step of cel-js' interpreter; measured on this project's 2-core machines
 * (test/bench/cel-cost.bench.ts), a million units took 1.5–131 ms depending on the kind of work
 * (string scans cheap, comprehension steps dear), so half a million keeps a gate's rules under
 * ~0.07 s on an idle machine: the main thread waits for them.
 */
export const RUNTIME_COST_LIMIT = 500_000;

/**
 * The cost a rule may have on the largest request the input limits allow (lists of
 * MAX_INPUT_LIST_ITEMS, strings of MAX_INPUT_STRING_LENGTH): above it the rule is refused when
 * its profile is admitted, because such a request would need days of CPU. Far above the
 * runtime limit: real requests are much smaller than the worst case, and a rule between the
 * two is admitted and judged (deterministically) on each request.
 */
export const STATIC_COST_LIMIT = 10_000_000_000;

/**
 * The size of a value: how many items (a list's elements, a map's entries) and how many
 * characters (a string's length) it has at most, and what is inside.
 */
export interface Shape {
  items: number;
  chars: number;
  /** Elements of a list, or values of a map whose keys are not known. */
  elem?: Shape;
  /** Fields of a map whose keys are known. */
  fields?: Record<string, Shape>;
}

/** A number, bool, timestamp or null. */
export const SCALAR: Shape = { items: 0, chars: 0 };

/** Anything at all, as large as the input limits allow (nested to the input depth limit). */
export function worstShape(depth = MAX_INPUT_DEPTH): Shape {
  const size = { items: MAX_INPUT_LIST_ITEMS, chars: MAX_INPUT_STRING_LENGTH };
  return depth <= 0 ? size : { ...size, elem: worstShape(depth - 1) };
}
const WORST = worstShape();

/** The shape of a value already converted for CEL (see toCelValue). */
export function shapeOf(value: unknown): Shape {
  if (typeof value === 'string') return { items: 0, chars: value.length };
  if (Array.isArray(value)) return { items: value.length, chars: 0, ...(value.length > 0 ? { elem: value.map(shapeOf).reduce(merge) } : {}) };
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const fields: Record<string, Shape> = {};
    for (const [key, item] of Object.entries(value)) fields[key] = shapeOf(item);
    const values = Object.values(fields);
    return { items: values.length, chars: 0, fields, ...(values.length > 0 ? { elem: values.reduce(merge) } : {}) };
  }
  return SCALAR;
}

/** The larger of two shapes, part by part. */
export function merge(a: Shape, b: Shape): Shape {
  const elem = a.elem && b.elem ? merge(a.elem, b.elem) : (a.elem ?? b.elem);
  return { items: Math.max(a.items, b.items), chars: Math.max(a.chars, b.chars), ...(elem ? { elem } : {}) };
}

type Node = { op: string; args: unknown };
type Scope = ReadonlyMap<string, Shape>;
type Estimate = { cost: number; shape: Shape };

/** The macros that run their body once per element. */
export const COMPREHENSIONS: ReadonlySet<string> = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const STRING_SCANS = new Set(['contains', 'startsWith', 'endsWith', 'lowerAscii', 'upperAscii', 'trim', 'replace', 'split', 'indexOf', 'lastIndexOf', 'substring', 'join']);
/** String functions whose result is a string about as long as what they read. */
const STRING_BUILDERS = new Set(['lowerAscii', 'upperAscii', 'trim', 'substring', 'join']);

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && 'op' in v && 'args' in v;
const charUnits = (n: number): number => Math.ceil(n / STRING_CHARS_PER_UNIT);
const text = (chars: number): Shape => ({ items: 0, chars });

/**
 * The cost of evaluating `ast` once with variables of the given shapes (`request`, `profile`,
 * `now`); a variable not given is taken at its worst.
 */
export function estimateCost(ast: ASTNode, variables: Record<string, Shape>): number {
  return estimate(ast as unknown as Node, new Map(Object.entries(variables))).cost;
}

function estimate(node: Node, scope: Scope): Estimate {
  const args = node.args;
  switch (node.op) {
    case 'value':
      return { cost: 1, shape: typeof args === 'string' ? text(args.length) : SCALAR };
    case 'id':
      return { cost: 1, shape: scope.get(String(args)) ?? WORST };
    case '.':
    case '.?': {
      const [target, field] = args as [Node, string];
      const t = estimate(target, scope);
      return { cost: t.cost + 1, shape: t.shape.fields?.[field] ?? t.shape.elem ?? WORST };
    }
    case '[]':
    case '[?]': {
      const [target, index] = args as [Node, Node];
      const t = estimate(target, scope);
      const i = estimate(index, scope);
      const key = index.op === 'value' && typeof index.args === 'string' ? index.args : undefined;
      const shape = (key !== undefined ? t.shape.fields?.[key] : undefined) ?? t.shape.elem ?? WORST;
      return { cost: t.cost + i.cost + 1, shape };
    }
    case '+': {
      const [a, b] = (args as Node[]).map((n) => estimate(n, scope)) as [Estimate, Estimate];
      const joined = { items: a.shape.items + b.shape.items, chars: a.shape.chars + b.shape.chars };
      const elem = a.shape.elem && b.shape.elem ? merge(a.shape.elem, b.shape.elem) : (a.shape.elem ?? b.shape.elem);
      // A string or list concatenation copies both sides; numbers cost one step.
      return { cost: a.cost + b.cost + 1 + charUnits(joined.chars) + joined.items, shape: { ...joined, ...(elem ? { elem } : {}) } };
    }
    case '==':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const [a, b] = (args as Node[]).map((n) => estimate(n, scope)) as [Estimate, Estimate];
      const compared = charUnits(Math.min(a.shape.chars, b.shape.chars)) + Math.min(a.shape.items, b.shape.items);
      return { cost: a.cost + b.cost + 1 + compared, shape: SCALAR };
    }
    case 'in': {
      const [a, b] = (args as Node[]).map((n) => estimate(n, scope)) as [Estimate, Estimate];
      return { cost: a.cost + b.cost + 1 + b.shape.items * (1 + charUnits(a.shape.chars)), shape: SCALAR };
    }
    case 'list': {
      const items = (args as Node[]).map((n) => estimate(n, scope));
      return { cost: 1 + sum(items), shape: { items: items.length, chars: 0, ...(items.length > 0 ? { elem: items.map((i) => i.shape).reduce(merge) } : {}) } };
    }
    case 'map': {
      const entries = (args as Node[][]).flat().map((n) => estimate(n, scope));
      const values = entries.filter((_, i) => i % 2 === 1).map((e) => e.shape);
      return { cost: 1 + sum(entries), shape: { items: values.length, chars: 0, ...(values.length > 0 ? { elem: values.reduce(merge) } : {}) } };
    }
    case '?:': {
      const [c, a, b] = (args as Node[]).map((n) => estimate(n, scope)) as [Estimate, Estimate, Estimate];
      return { cost: c.cost + a.cost + b.cost, shape: merge(a.shape, b.shape) };
    }
    case 'rcall':
    case 'call':
      return estimateCall(node, scope);
    default: {
      // &&, ||, !_, -_, arithmetic, optional chaining helpers: one step over their operands.
      const children = childNodes(args).map((n) => estimate(n, scope));
      return { cost: 1 + sum(children), shape: children.length === 1 ? children[0]!.shape : SCALAR };
    }
  }
}

function estimateCall(node: Node, scope: Scope): Estimate {
  const rcall = node.op === 'rcall';
  const list = node.args as unknown[];
  const name = String(list[0]);
  const receiverNode = rcall ? (list[1] as Node) : undefined;
  const argNodes = childNodes(rcall ? list[2] : list[1]);

  if (rcall && COMPREHENSIONS.has(name) && receiverNode && argNodes.length === 2 && argNodes[0]!.op === 'id') {
    const range = estimate(receiverNode, scope);
    const variable = String(argNodes[0]!.args);
    const element = range.shape.elem ?? WORST;
    const body = estimate(argNodes[1]!, new Map([...scope, [variable, element]]));
    const cost = range.cost + range.shape.items * (body.cost + ITERATION_UNITS);
    if (name === 'map') return { cost, shape: { items: range.shape.items, chars: 0, elem: body.shape } };
    if (name === 'filter') return { cost, shape: range.shape };
    return { cost, shape: SCALAR };
  }

  const receiver = receiverNode ? estimate(receiverNode, scope) : undefined;
  const argEstimates = argNodes.map((n) => estimate(n, scope));
  const base = 1 + (receiver?.cost ?? 0) + sum(argEstimates);
  const operands = [...(receiver ? [receiver.shape] : []), ...argEstimates.map((a) => a.shape)];
  const read = operands.reduce((n, s) => n + s.chars, 0);
  if (name === 'matches') {
    const pattern = argNodes.at(-1);
    const patternLength = pattern?.op === 'value' && typeof pattern.args === 'string' ? pattern.args.length : MAX_INPUT_STRING_LENGTH;
    const subject = operands[0]?.chars ?? MAX_INPUT_STRING_LENGTH;
    return { cost: base + charUnits(subject) * Math.max(1, Math.ceil(patternLength / REGEX_CHARS_PER_UNIT)), shape: SCALAR };
  }
  if (STRING_SCANS.has(name)) {
    // replace() can multiply the subject by its replacement; the others stay within what they read.
    const built = name === 'replace' ? (operands[0]?.chars ?? 0) * Math.max(1, operands[2]?.chars ?? 1) : read;
    const joined = name === 'join' ? (operands[0]?.items ?? 0) * (operands[0]?.elem?.chars ?? 0) + read : built;
    const shape = name === 'split' ? { items: read, chars: 0, elem: text(read) } : STRING_BUILDERS.has(name) || name === 'replace' ? text(joined) : SCALAR;
    return { cost: base + charUnits(read + (name === 'join' ? joined : 0)), shape };
  }
  // size() of a string counts code points; of a list or map, it is O(1).
  if (name === 'size') return { cost: base + charUnits(operands[0]?.chars ?? 0), shape: SCALAR };
  // has, type conversions, timestamps, optional helpers: constant work over their operands.
  return { cost: base, shape: name === 'string' ? text(Math.max(20, read)) : name === 'dyn' && operands.length === 1 ? operands[0]! : SCALAR };
}

function childNodes(value: unknown, out: Node[] = []): Node[] {
  if (Array.isArray(value)) for (const item of value) childNodes(item, out);
  else if (isNode(value)) out.push(value);
  return out;
}

function sum(estimates: readonly Estimate[]): number {
  return estimates.reduce((n, e) => n + e.cost, 0);
}
