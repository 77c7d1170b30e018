// Locates the upstream SourceOS contracts the project must stay compatible with. They are read
// in place (never copied into the project): ../shared/reference next to the clone, or
// UPSTREAM_CONTRACTS_DIR.
import { existsSync, readFileSync } from 'node:fs';
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
