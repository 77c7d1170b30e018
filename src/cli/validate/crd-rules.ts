// The checks the API server makes beyond what ajv sees in contracts/: the CRDs'
// x-kubernetes-validations CEL rules and x-kubernetes-list-type uniqueness, evaluated offline
// over the same structural schemas the CRDs carry (crds.ts), so `agent-machine validate` can
// reject in CI what `kubectl apply` would reject later.
//
// Transition rules (those that read oldSelf) compare an update with the stored object; a file
// has no stored object, so they are counted and skipped. A rule cel-js cannot compile (a
// Kubernetes CEL library function it lacks) is reported as unchecked, never as passed: a unit
// test keeps every rule in the contracts compilable.
import { Environment, type ParseResult } from '@marcbachmann/cel-js';
import { loadAllSchemas, loadKindContracts, type JsonSchema } from '../../api/contracts.ts';
import { openApiSchemaFor } from '../../codegen/crds.ts';
import type { FieldPath } from '../../api/field-path.ts';
import type { KindName } from '../../api/group.ts';
import { isObject } from '../../codegen/schema-resolver.ts';

export interface CrdRuleIssue {
  path: FieldPath;
  /** What the API server would say, without the field path. */
  message: string;
}

export interface CrdRuleReport {
  issues: CrdRuleIssue[];
  /** Transition rules (oldSelf) that applied to a present value but need the stored object. */
  skippedTransitionRules: number;
  /** Rules that could not be compiled offline, by rule text. */
  uncheckable: string[];
}

interface Rule {
  rule: string;
  message?: string;
}

type CompiledRule = { kind: 'program'; program: ParseResult } | { kind: 'transition' } | { kind: 'uncheckable'; error: string };

// The variables and the one overload Kubernetes has that cel-js lacks: timestamp(timestamp)
// is the identity, and Kubernetes hands date-time fields to rules as timestamps.
const environment = new Environment({ enableOptionalTypes: true })
  .registerVariable('self', 'dyn')
  .registerVariable('oldSelf', 'dyn')
  .registerFunction('timestamp(google.protobuf.Timestamp): google.protobuf.Timestamp', (t: Date) => t);

function compileRule(rule: string): CompiledRule {
  try {
    const program = environment.parse(rule);
    return readsOldSelf(program.ast) ? { kind: 'transition' } : { kind: 'program', program };
  } catch (error) {
    return { kind: 'uncheckable', error: firstLine(error) };
  }
}

type Compile = (rule: string) => CompiledRule;

/**
 * The CRDs' schemas and their rules compiled, built on first use and kept by the one who made
 * it (a validate run): building the schemas and parsing the rules is the slow part.
 */
export class CrdRules {
  readonly #compiled = new Map<string, CompiledRule>();
  #schemas: Map<KindName, JsonSchema> | undefined;

  readonly compile: Compile = (rule) => {
    let hit = this.#compiled.get(rule);
    if (!hit) {
      hit = compileRule(rule);
      this.#compiled.set(rule, hit);
    }
    return hit;
  };

  /** The openAPIV3Schema of each kind's CRD. */
  schemas(): Map<KindName, JsonSchema> {
    if (!this.#schemas) {
      const all = loadAllSchemas();
      this.#schemas = new Map(loadKindContracts(all).map((c) => [c.kind, openApiSchemaFor(c, all)]));
    }
    return this.#schemas;
  }

  /** Every x-kubernetes-validations rule of every CRD, with where it sits and how it compiles offline. */
  inventory(): Array<{ kind: KindName; rule: string; message?: string; compiled: CompiledRule['kind']; error?: string }> {
    const out: ReturnType<CrdRules['inventory']> = [];
    const visit = (kind: KindName, schema: JsonSchema): void => {
      for (const r of rulesOf(schema)) {
        const c = this.compile(r.rule);
        out.push({ kind, rule: r.rule, ...(r.message ? { message: r.message } : {}), compiled: c.kind, ...(c.kind === 'uncheckable' ? { error: c.error } : {}) });
      }
      for (const child of childSchemas(schema)) visit(kind, child);
    };
    for (const [kind, schema] of this.schemas()) visit(kind, schema);
    return out;
  }

  /**
   * Checks one object of a known kind. `schemaValid` says whether it passed schema validation:
   * the API server evaluates CEL rules only on objects that do (a rule over a wrongly typed field
   * would only add noise), while list uniqueness is part of schema validation and always runs.
   */
  check(kind: KindName, object: unknown, options: { schemaValid: boolean }): CrdRuleReport {
    const report: CrdRuleReport = { issues: [], skippedTransitionRules: 0, uncheckable: [] };
    const schema = this.schemas().get(kind);
    if (!schema) return report;
    walk(schema, object, [], report, options.schemaValid ? this.compile : undefined, true);
    return report;
  }
}

// As the API server decides it: a rule is a transition rule when its expression names oldSelf.
function readsOldSelf(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(readsOldSelf);
  if (node === null || typeof node !== 'object') return false;
  const { op, args } = node as { op?: unknown; args?: unknown };
  if (op === 'id') return args === 'oldSelf';
  return readsOldSelf(args);
}

function firstLine(error: unknown): string {
  return ((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '').trim();
}

function rulesOf(schema: JsonSchema): Rule[] {
  const rules = schema['x-kubernetes-validations'];
  return Array.isArray(rules) ? (rules as Rule[]) : [];
}

function childSchemas(schema: JsonSchema): JsonSchema[] {
  const out: JsonSchema[] = [];
  if (isObject(schema['properties'])) out.push(...(Object.values(schema['properties']) as JsonSchema[]));
  if (isObject(schema['items'])) out.push(schema['items']);
  if (isObject(schema['additionalProperties'])) out.push(schema['additionalProperties']);
  return out;
}

/** `compile` is given when CEL rules are evaluated (see CrdRules.check). */
function walk(schema: JsonSchema, value: unknown, path: FieldPath, report: CrdRuleReport, compile: Compile | undefined, root = false): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) checkListType(schema, value, path, report);
  if (compile) {
    for (const rule of rulesOf(schema)) evaluateRule(compile(rule.rule), rule, schema, value, path, report, root);
  }
  if (isObject(value)) {
    const properties = isObject(schema['properties']) ? (schema['properties'] as Record<string, JsonSchema>) : {};
    const additional = isObject(schema['additionalProperties']) ? schema['additionalProperties'] : undefined;
    for (const [key, child] of Object.entries(value)) {
      const childSchema = properties[key] ?? additional;
      if (childSchema) walk(childSchema, child, [...path, key], report, compile);
    }
  } else if (Array.isArray(value) && isObject(schema['items'])) {
    const items = schema['items'];
    value.forEach((item, i) => walk(items, item, [...path, i], report, compile));
  }
}

function evaluateRule(c: CompiledRule, rule: Rule, schema: JsonSchema, value: unknown, path: FieldPath, report: CrdRuleReport, root: boolean): void {
  if (c.kind === 'transition') {
    report.skippedTransitionRules++;
    return;
  }
  // The API server names the schema type of the value, not the value, in CEL rejections.
  const invalid = `Invalid value: "${typeNameOf(schema, value)}"`;
  if (c.kind === 'uncheckable') {
    if (!report.uncheckable.includes(rule.rule)) report.uncheckable.push(rule.rule);
    return;
  }
  let self = toCelValue(value, schema);
  // Rules on the root see only metadata.name and metadata.generateName, as on the API server.
  if (root && isObject(self) && isObject(self['metadata'])) {
    const { name, generateName } = self['metadata'] as { name?: unknown; generateName?: unknown };
    self = { ...self, metadata: { ...(name !== undefined ? { name } : {}), ...(generateName !== undefined ? { generateName } : {}) } };
  }
  let result: unknown;
  try {
    result = c.program({ self });
  } catch (error) {
    report.issues.push({ path, message: `${invalid}: ${firstLine(error)} evaluating rule: ${rule.rule}` });
    return;
  }
  if (result !== true) {
    const why = result === false ? (rule.message ?? `failed rule: ${rule.rule}`) : `rule evaluated to ${typeof result}, not bool: ${rule.rule}`;
    report.issues.push({ path, message: `${invalid}: ${why}` });
  }
}

function typeNameOf(schema: JsonSchema, value: unknown): string {
  if (typeof schema['type'] === 'string') return schema['type'];
  return Array.isArray(value) ? 'array' : typeof value;
}

/**
 * Values typed as the API server types them for CEL: integer fields as int (cel-js ints are
 * BigInt), number fields as double, date-time strings as timestamps.
 */
function toCelValue(value: unknown, schema: JsonSchema | undefined): unknown {
  const type = schema?.['type'];
  if (value === null || value === undefined) return value;
  if (typeof value === 'number') {
    if (type === 'integer' || (type === undefined && Number.isInteger(value))) return Number.isSafeInteger(value) ? BigInt(value) : value;
    return value;
  }
  if (typeof value === 'string') {
    if (type === 'string' && schema?.['format'] === 'date-time' && !Number.isNaN(Date.parse(value))) return new Date(value);
    return value;
  }
  if (Array.isArray(value)) {
    const items = schema && isObject(schema['items']) ? schema['items'] : undefined;
    return value.map((item) => toCelValue(item, items));
  }
  if (isObject(value)) {
    const properties = schema && isObject(schema['properties']) ? (schema['properties'] as Record<string, JsonSchema>) : {};
    const additional = schema && isObject(schema['additionalProperties']) ? schema['additionalProperties'] : undefined;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCelValue(v, properties[k] ?? additional)]));
  }
  return value;
}

/** x-kubernetes-list-type set: no two equal items; map: no two items with the same keys. */
function checkListType(schema: JsonSchema, list: unknown[], path: FieldPath, report: CrdRuleReport): void {
  const type = schema['x-kubernetes-list-type'];
  if (type !== 'set' && type !== 'map') return;
  const keys = Array.isArray(schema['x-kubernetes-list-map-keys']) ? (schema['x-kubernetes-list-map-keys'] as string[]) : [];
  const seen = new Set<string>();
  list.forEach((item, i) => {
    let identity: string;
    if (type === 'set') {
      identity = canonicalJson(item);
    } else {
      // An item without its keys is a schema error (required), reported by schema validation.
      if (!isObject(item) || keys.some((k) => item[k] === undefined)) return;
      identity = canonicalJson(Object.fromEntries(keys.map((k) => [k, item[k]])));
    }
    if (seen.has(identity)) report.issues.push({ path: [...path, i], message: `Duplicate value: ${identity}` });
    seen.add(identity);
  });
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
