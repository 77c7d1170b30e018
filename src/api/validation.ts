// Offline validation of agent-machine objects against contracts/ with ajv: the same schemas the
// CRDs are generated from, so `agent-machine validate` and the API server agree.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { createRequire } from 'node:module';
import { CONTRACT_SCHEMA_FILE, loadAllSchemas, loadKindContracts } from './contracts.ts';
import { isKindName, API_VERSION, type KindName } from './group.ts';

// ajv-formats is CommonJS whose typings describe an ES default export; require() sidesteps the mismatch.
const addFormats = createRequire(import.meta.url)('ajv-formats') as (ajv: Ajv2020) => Ajv2020;

// Kubernetes extensions are annotations for the API server; ajv must know them so strict mode
// still catches typos in real keywords.
const KUBERNETES_KEYWORDS = [
  'x-kubernetes-crd',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
];

export interface ValidationIssue {
  path: string;
  message: string;
  /** The JSON Schema keyword that failed and ajv's details, for callers that word their own message. */
  keyword?: string;
  params?: Record<string, unknown>;
}

export interface ValidationResult {
  valid: boolean;
  kind?: KindName;
  issues: ValidationIssue[];
}

export class ContractValidator {
  readonly #validators = new Map<KindName, ValidateFunction>();
  readonly #contract: ValidateFunction;

  constructor() {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
    addFormats(ajv);
    ajv.addVocabulary(KUBERNETES_KEYWORDS);
    const schemas = loadAllSchemas();
    for (const [file, schema] of schemas) ajv.addSchema(schema, file);
    for (const { kind, file } of loadKindContracts(schemas)) {
      this.#validators.set(kind, ajv.getSchema(file) as ValidateFunction);
    }
    this.#contract = ajv.getSchema(CONTRACT_SCHEMA_FILE) as ValidateFunction;
  }

  /** Checks a WorkspaceOperationContract document (what `agent-machine contract` prints). */
  validateContract(doc: unknown): ValidationIssue[] {
    return this.#contract(doc) ? [] : (this.#contract.errors ?? []).map(toIssue);
  }

  validate(object: unknown): ValidationResult {
    if (typeof object !== 'object' || object === null) {
      return { valid: false, issues: [{ path: '', message: 'expected an object' }] };
    }
    const { apiVersion, kind } = object as { apiVersion?: unknown; kind?: unknown };
    if (apiVersion !== API_VERSION) {
      return { valid: false, issues: [{ path: '/apiVersion', message: `must be ${API_VERSION}` }] };
    }
    if (!isKindName(kind)) {
      return { valid: false, issues: [{ path: '/kind', message: `unknown kind ${String(kind)}` }] };
    }
    const validate = this.#validators.get(kind)!;
    const valid = validate(object) as boolean;
    return { valid, kind, issues: valid ? [] : (validate.errors ?? []).map(toIssue) };
  }
}

function toIssue(error: ErrorObject): ValidationIssue {
  const extra =
    error.keyword === 'additionalProperties'
      ? ` (${String((error.params as { additionalProperty?: string }).additionalProperty)})`
      : error.keyword === 'enum'
        ? `: ${JSON.stringify((error.params as { allowedValues?: unknown[] }).allowedValues)}`
        : '';
  return { path: error.instancePath || '/', message: `${error.message ?? error.keyword}${extra}`, keyword: error.keyword, params: error.params as Record<string, unknown> };
}
