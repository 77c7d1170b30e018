// Locates the upstream SourceOS contracts the project must stay compatible with. They are read
// in place (never copied into the project): ../shared/reference next to the clone, or
// UPSTREAM_CONTRACTS_DIR.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DEFAULT_DIR = fileURLToPath(new URL('../../../shared/reference/SourceOS-Linux__agent-machine/contracts/', import.meta.url));

export function upstreamContractsDir(): string | undefined {
  const dir = process.env['UPSTREAM_CONTRACTS_DIR'] ?? DEFAULT_DIR;
  return existsSync(path.join(dir, 'workspace-operation-contract.schema.json')) ? dir : undefined;
}

export const UPSTREAM_MISSING =
  'upstream contracts not found: set UPSTREAM_CONTRACTS_DIR to a folder holding workspace-operation-contract.schema.json ' +
  '(default ../shared/reference/SourceOS-Linux__agent-machine/contracts); SKIPPED';

export function readUpstreamSchema(dir: string): Record<string, any> {
  return JSON.parse(readFileSync(path.join(dir, 'workspace-operation-contract.schema.json'), 'utf8'));
}

const upstreamValidators = new Map<string, ValidateFunction>();

/** Problems the upstream WorkspaceOperationContract schema finds in doc (empty: valid). */
export function validateUpstreamContract(dir: string, doc: unknown): string[] {
  let validate = upstreamValidators.get(dir);
  if (!validate) {
    validate = new Ajv2020({ allErrors: true, strict: true }).compile(readUpstreamSchema(dir));
    upstreamValidators.set(dir, validate);
  }
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

// The other upstream records (prophet-core, workstation-contracts, agent-registry,
// sourceos-spec): read from the same reference folder, <owner>__<repo>/<path>.
const DEFAULT_REFERENCE_DIR = fileURLToPath(new URL('../../../shared/reference/', import.meta.url));

/** The reference folder, or undefined when it is absent (tests then skip, saying so). */
export function referenceDir(): string | undefined {
  const dir = process.env['UPSTREAM_REFERENCE_DIR'] ?? DEFAULT_REFERENCE_DIR;
  return existsSync(path.join(dir, 'README.md')) ? dir : undefined;
}

export const REFERENCE_MISSING =
  'upstream reference folder not found: set UPSTREAM_REFERENCE_DIR to a copy of shared/reference ' +
  '(default ../shared/reference next to the clone); upstream record validation SKIPPED';

// ajv-formats is CommonJS whose typings describe an ES default export; require() sidesteps the mismatch.
const addFormats = createRequire(import.meta.url)('ajv-formats') as (ajv: Ajv2020) => Ajv2020;
const referenceValidators = new Map<string, ValidateFunction>();

/**
 * Problems the upstream schema at <repo>/<file> (optionally one of its $defs) finds in doc;
 * empty when valid. Every schema here says draft 2020-12, hence Ajv2020; formats are checked.
 */
export function validateReference(dir: string, file: string, doc: unknown, def?: string): string[] {
  const key = `${dir}\u0000${file}\u0000${def ?? ''}`;
  let validate = referenceValidators.get(key);
  if (!validate) {
    const schema = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;
    if (schema['$schema'] !== 'https://json-schema.org/draft/2020-12/schema') throw new Error(`${file}: expected a draft 2020-12 schema, got ${String(schema['$schema'])}`);
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats(ajv);
    ajv.addSchema(schema, 'root');
    validate = ajv.compile(def ? { $ref: `root#/$defs/${def}` } : { $ref: 'root' });
    referenceValidators.set(key, validate);
  }
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}
