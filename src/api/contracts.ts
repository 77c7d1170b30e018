// Loads the JSON Schemas in contracts/: the single source of truth for CRDs, TypeScript types
// and offline validation.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { KINDS, type KindName } from './group.ts';

export const CONTRACTS_DIR = fileURLToPath(new URL('../../contracts/', import.meta.url));
export const COMMON_SCHEMA_FILE = 'common.schema.json';
export const CONTRACT_SCHEMA_FILE = 'workspace-operation-contract.schema.json';

export type JsonSchema = { [key: string]: unknown };

export interface CrdMetadata {
  kind: KindName;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Cluster' | 'Namespaced';
  printerColumns: Array<{ name: string; type: string; jsonPath: string; priority?: number; description?: string }>;
}

export interface KindContract {
  kind: KindName;
  file: string;
  schema: JsonSchema;
  crd: CrdMetadata;
}

export function schemaFileFor(kind: KindName): string {
  return `${kind.toLowerCase()}.schema.json`;
}

export function readSchemaFile(file: string): JsonSchema {
  return JSON.parse(readFileSync(path.join(CONTRACTS_DIR, file), 'utf8')) as JsonSchema;
}

/** Every schema file in contracts/, keyed by file name (refs between them use file names). */
export function loadAllSchemas(): Map<string, JsonSchema> {
  const out = new Map<string, JsonSchema>();
  for (const file of readdirSync(CONTRACTS_DIR).filter((f) => f.endsWith('.schema.json')).sort()) {
    out.set(file, readSchemaFile(file));
  }
  return out;
}

export function loadKindContracts(schemas = loadAllSchemas()): KindContract[] {
  return KINDS.map((kind) => {
    const file = schemaFileFor(kind);
    const schema = schemas.get(file);
    if (!schema) throw new Error(`contracts/${file} is missing`);
    const crd = schema['x-kubernetes-crd'] as CrdMetadata | undefined;
    if (!crd || crd.kind !== kind) throw new Error(`contracts/${file} lacks x-kubernetes-crd for ${kind}`);
    return { kind, file, schema, crd };
  });
}
