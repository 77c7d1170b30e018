// Resolves $refs between the contract files, so one definition can serve the CRD generator
// (which needs self-contained structural schemas) and the type generator.
import type { JsonSchema } from '../api/contracts.ts';

export interface RefTarget {
  file: string;
  defName: string;
  schema: JsonSchema;
}

/** Splits "common.schema.json#/$defs/budget" (or "#/$defs/budget", relative to `fromFile`). */
export function resolveRef(ref: string, fromFile: string, schemas: Map<string, JsonSchema>): RefTarget {
  const [filePart, pointer] = ref.split('#');
  const file = filePart ? filePart : fromFile;
  const match = /^\/\$defs\/([A-Za-z0-9_]+)$/.exec(pointer ?? '');
  if (!match) throw new Error(`unsupported $ref ${ref} in ${fromFile}: only #/$defs/NAME is used`);
  const defName = match[1]!;
  const defs = schemas.get(file)?.['$defs'] as Record<string, JsonSchema> | undefined;
  const schema = defs?.[defName];
  if (!schema) throw new Error(`$ref ${ref} in ${fromFile} points nowhere`);
  return { file, defName, schema };
}

/**
 * Inlines every $ref. Keywords written beside a $ref (2020-12 semantics) refine the target:
 * `required` is unioned, anything else overrides.
 */
export function inlineRefs(schema: JsonSchema, fromFile: string, schemas: Map<string, JsonSchema>): JsonSchema {
  if (typeof schema['$ref'] === 'string') {
    const target = resolveRef(schema['$ref'], fromFile, schemas);
    const base = inlineRefs(target.schema, target.file, schemas);
    const { $ref: _ref, ...siblings } = schema;
    const merged: JsonSchema = { ...base };
    for (const [key, value] of Object.entries(inlineChildren(siblings, fromFile, schemas))) {
      merged[key] = key === 'required' ? union(base['required'], value) : value;
    }
    return merged;
  }
  return inlineChildren(schema, fromFile, schemas);
}

function inlineChildren(schema: JsonSchema, fromFile: string, schemas: Map<string, JsonSchema>): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inlineRefs(v as JsonSchema, fromFile, schemas)]));
    } else if ((key === 'items' || key === 'additionalProperties') && isObject(value)) {
      out[key] = inlineRefs(value, fromFile, schemas);
    } else if (key === 'allOf' && Array.isArray(value)) {
      out[key] = value.map((v) => inlineRefs(v as JsonSchema, fromFile, schemas));
    } else {
      out[key] = value;
    }
  }
  return out;
}

function union(a: unknown, b: unknown): string[] {
  return [...new Set([...((a as string[] | undefined) ?? []), ...((b as string[] | undefined) ?? [])])];
}

export function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
