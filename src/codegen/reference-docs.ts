// Renders docs/reference/ — one Markdown page per kind — from the JSON Schemas in contracts/,
// the same source the CRDs and TypeScript types come from, so the field reference cannot say
// something the API server does not enforce. Pure: schemas in, Markdown out; `make docs` writes
// the pages and a unit test fails when the ones on disk are stale.
import { CATEGORY, GROUP, VERSION, type KindName } from '../api/group.ts';
import { CONTRACT_SCHEMA_FILE, loadAllSchemas, loadKindContracts, type JsonSchema, type KindContract } from '../api/contracts.ts';
import { inlineRefs, isObject } from './schema-resolver.ts';
import { KIND_OPERATION_TYPES } from '../api/workspace-operation-contract.ts';

export const REFERENCE_DIR = 'docs/reference';

export interface FieldRow {
  path: string;
  type: string;
  required: boolean;
  default?: unknown;
  constraints: string[];
  description: string;
}

export interface ValidationRow {
  path: string;
  rule: string;
  message: string;
}

/**
 * The conditions each kind's reconciler sets, with what True means. Reasons live in
 * docs/troubleshooting.md; a unit test checks this table against the `type:` literals the
 * reconcilers write, so a new condition cannot go undocumented.
 */
export const CONDITIONS_BY_KIND: Readonly<Record<KindName, ReadonlyArray<readonly [string, string]>>> = {
  AgentMachineProfile: [
    ['Authorized', 'the delegation in spec.authority holds and the admission policy that proves who asked is installed'],
    ['PolicyAllowed', 'every CEL rule in spec.rules compiles and passes the static checks'],
    ['Reconciling', 'kstatus: the controller is still working toward what the spec asks (Pending, Queued, Running, ...)'],
    ['Stalled', 'kstatus: stuck until someone changes something (Denied, Invalid, Failed, a budget-forced cancellation)'],
    ['DeletionHeld', 'True while a deletion is held because executions run or grants are Active under the profile (reason InUse; the message names them)'],
    ['Ready', 'the profile may govern objects (phase Ready)'],
  ],
  ToolGrantRecord: [
    ['Authorized', 'delegation, scopes and the delegator\'s RBAC (`use` the profile, `grant` the tool) hold'],
    ['PolicyAllowed', 'the profile\'s toolGrant gate allows the tool'],
    ['Reconciling', 'kstatus: the controller is still working toward what the spec asks (Pending, Queued, Running, ...)'],
    ['Stalled', 'kstatus: stuck until someone changes something (Denied, Invalid, Failed, a budget-forced cancellation)'],
    ['Ready', 'the grant is Active, or reached the end asked for (reason Revoked or AuthorityExpired): only state Active authorizes'],
  ],
  LocalAgentExecution: [
    ['Authorized', 'delegation, scopes (execution.start and container.run, every tool) and RBAC (`use` the profile) hold'],
    ['PolicyAllowed', 'every container passed its gates and every tool has an Active grant'],
    ['BudgetAvailable', 'the requested budget fits the profile\'s ceilings'],
    ['Reconciling', 'kstatus: the controller is still working toward what the spec asks (Pending, Queued, Running, ...)'],
    ['Stalled', 'kstatus: stuck until someone changes something (Denied, Invalid, Failed, a budget-forced cancellation)'],
    ['Ready', 'the execution Succeeded (every container exited 0), or was cancelled on request (reason Cancelled)'],
  ],
  ContainerExecutionRecord: [
    ['Authorized', 'delegation, scope container.run and RBAC (`use` the profile) hold'],
    ['PolicyAllowed', 'the containerExecution, artifactAccess and networkProfile gates allow the container'],
    ['BudgetAvailable', 'the requested budget fits the profile\'s ceilings'],
    ['RuntimeReady', 'the container engine (podman/dockerd) or the Kubernetes API answered the last call'],
    ['Reconciling', 'kstatus: the controller is still working toward what the spec asks (Pending, Queued, Running, ...)'],
    ['Stalled', 'kstatus: stuck until someone changes something (Denied, Invalid, Failed, a budget-forced cancellation)'],
    ['Ready', 'the container Succeeded (exited 0), or was cancelled on request (reason Cancelled)'],
  ],
  ModelProviderBinding: [
    ['Authorized', 'delegation, scopes and RBAC (`use` the profile, `bind` the binding) hold'],
    ['PolicyAllowed', 'the profile\'s modelProviderUse gate allows the endpoint'],
    ['EndpointReachable', 'the last probe of the endpoint got a model list'],
    ['ModelAvailable', 'spec.model is among the models the endpoint serves'],
    ['Reconciling', 'kstatus: the controller is still working toward what the spec asks (Pending, Queued, Running, ...)'],
    ['Stalled', 'kstatus: stuck until someone changes something (Denied, Invalid, Failed, a budget-forced cancellation)'],
    ['Ready', 'the gateway forwards calls through this binding'],
  ],
  AgentMachineDiagnosticBundle: [
    ['Authorized', 'delegation, scope and RBAC (`export` on agentmachinediagnosticbundles) hold'],
    ['PolicyAllowed', 'True once authorized: no profile governs an export'],
    ['Redacted', 'the finished bundle passed the leak check (no known secret value or credential format left)'],
    ['Reconciling', 'kstatus: the controller is still working toward what the spec asks (Pending, Queued, Running, ...)'],
    ['Stalled', 'kstatus: stuck until someone changes something (Denied, Invalid, Failed, a budget-forced cancellation)'],
    ['Ready', 'the bundle was exported and stored in ConfigMaps'],
  ],
};

// ---------------------------------------------------------------------------------------------
// Walking a schema

/** Every field below `node`, depth first in schema order, with its path from `prefix`. */
export function fieldRows(node: JsonSchema, prefix: string): FieldRow[] {
  const rows: FieldRow[] = [];
  walkChildren(node, prefix, rows);
  return rows;
}

function walkChildren(node: JsonSchema, path: string, rows: FieldRow[]): void {
  const properties = isObject(node['properties']) ? node['properties'] : undefined;
  const required = new Set(Array.isArray(node['required']) ? (node['required'] as string[]) : []);
  for (const [name, child] of Object.entries(properties ?? {})) {
    if (!isObject(child)) continue;
    const childPath = path === '' ? name : `${path}.${name}`;
    rows.push(rowFor(child, childPath, required.has(name)));
    descend(child, childPath, rows);
  }
}

/** Into objects, arrays of objects and maps of objects. */
function descend(node: JsonSchema, path: string, rows: FieldRow[]): void {
  if (isObject(node['properties'])) walkChildren(node, path, rows);
  const items = node['items'];
  if (isObject(items) && isObject(items['properties'])) walkChildren(items, `${path}[]`, rows);
  const values = node['additionalProperties'];
  if (isObject(values) && isObject(values['properties'])) walkChildren(values, `${path}.<key>`, rows);
}

function rowFor(node: JsonSchema, path: string, required: boolean): FieldRow {
  return {
    path,
    type: typeName(node),
    required,
    ...('default' in node ? { default: node['default'] } : {}),
    constraints: constraintsOf(node),
    description: descriptionOf(node),
  };
}

function descriptionOf(node: JsonSchema): string {
  const own = typeof node['description'] === 'string' ? node['description'] : '';
  const items = node['items'];
  // A list of scalars is documented by its items (e.g. authority.scopes[]).
  const ofItems = isObject(items) && !isObject(items['properties']) && typeof items['description'] === 'string' ? items['description'] : '';
  return [own, ofItems && ofItems !== own ? `Each item: ${ofItems}` : ''].filter(Boolean).join(' ');
}

export function typeName(node: JsonSchema): string {
  if ('const' in node) return scalarType(node['const']);
  const type = typeof node['type'] === 'string' ? node['type'] : Array.isArray(node['enum']) ? scalarType(node['enum'][0]) : 'any';
  const format = typeof node['format'] === 'string' ? ` (${node['format']})` : '';
  if (type === 'array') return `[]${isObject(node['items']) ? typeName(node['items']) : 'any'}`;
  if (type === 'object' && isObject(node['additionalProperties'])) return `map[string]${typeName(node['additionalProperties'])}`;
  return `${type}${format}`;
}

function scalarType(value: unknown): string {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return 'any';
}

export function constraintsOf(node: JsonSchema): string[] {
  const out: string[] = [];
  if ('const' in node) out.push(`must be ${code(node['const'])}`);
  if (Array.isArray(node['enum'])) out.push(`one of ${node['enum'].map(code).join(', ')}`);
  out.push(...rangeOf(node, 'minimum', 'maximum', ''));
  out.push(...rangeOf(node, 'minLength', 'maxLength', ' characters'));
  out.push(...rangeOf(node, 'minItems', 'maxItems', ' items'));
  if (typeof node['pattern'] === 'string') out.push(`pattern ${code(node['pattern'])}`);
  if (node['uniqueItems'] === true) out.push('items unique');
  const listType = node['x-kubernetes-list-type'];
  if (listType === 'set') out.push('set (items unique)');
  if (listType === 'map') {
    const keys = Array.isArray(node['x-kubernetes-list-map-keys']) ? (node['x-kubernetes-list-map-keys'] as string[]) : [];
    out.push(`list keyed by ${keys.map(code).join(', ')}`);
  }
  if (node['additionalProperties'] === false && isObject(node['properties'])) out.push('no other fields');
  out.push(...containsOf(node));
  // Constraints of the items of a scalar list, or the values of a scalar map, belong to the field.
  for (const [key, label] of [['items', 'each item'], ['additionalProperties', 'each value']] as const) {
    const inner = node[key];
    if (isObject(inner) && !isObject(inner['properties'])) {
      const innerConstraints = constraintsOf(inner);
      if (innerConstraints.length > 0) out.push(`${label}: ${innerConstraints.join('; ')}`);
    }
  }
  return out;
}

function rangeOf(node: JsonSchema, minKey: string, maxKey: string, unit: string): string[] {
  const min = typeof node[minKey] === 'number' ? (node[minKey] as number) : undefined;
  const max = typeof node[maxKey] === 'number' ? (node[maxKey] as number) : undefined;
  if (min !== undefined && max !== undefined) return [`${min}–${max}${unit}`];
  if (min !== undefined) return [`≥ ${min}${unit}`];
  if (max !== undefined) return [`≤ ${max}${unit}`];
  return [];
}

/** `allOf: [{contains: {properties: {x: {const: v}}}}]`: the array must hold an item with x = v. */
function containsOf(node: JsonSchema): string[] {
  if (!Array.isArray(node['allOf'])) return [];
  const out: string[] = [];
  for (const part of node['allOf']) {
    const contains = isObject(part) ? part['contains'] : undefined;
    if (!isObject(contains) || !isObject(contains['properties'])) continue;
    const pins = Object.entries(contains['properties'])
      .filter(([, v]) => isObject(v) && 'const' in v)
      .map(([k, v]) => `${k} = ${code((v as JsonSchema)['const'])}`);
    if (pins.length > 0) out.push(`must contain an item with ${pins.join(', ')}`);
  }
  return out;
}

/** Every x-kubernetes-validations rule at or below `node`. */
export function validationRows(node: JsonSchema, path: string): ValidationRow[] {
  const rows: ValidationRow[] = [];
  const visit = (n: JsonSchema, at: string): void => {
    const rules = n['x-kubernetes-validations'];
    if (Array.isArray(rules)) {
      for (const r of rules) {
        if (isObject(r) && typeof r['rule'] === 'string') rows.push({ path: at, rule: r['rule'], message: typeof r['message'] === 'string' ? r['message'] : '' });
      }
    }
    if (isObject(n['properties'])) {
      for (const [k, v] of Object.entries(n['properties'])) if (isObject(v)) visit(v, at === '' ? k : `${at}.${k}`);
    }
    if (isObject(n['items'])) visit(n['items'], `${at}[]`);
    if (isObject(n['additionalProperties'])) visit(n['additionalProperties'], `${at}.<key>`);
  };
  visit(node, path);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Markdown

/** A table cell: one line, pipes escaped (GFM splits cells on `|` even inside code spans). */
export function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** Schema prose in Markdown: `<area>` would be taken for an HTML tag, `*` for emphasis. */
export function prose(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\*/g, '\\*');
}

function code(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  // A code span containing backticks needs a longer fence.
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

function fieldTable(rows: FieldRow[]): string {
  const lines = ['| Field | Type | Required | Default | Constraints | Description |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const dflt = 'default' in r ? code(r.default) : '';
    lines.push(`| ${cell(code(r.path))} | ${cell(code(r.type))} | ${r.required ? 'yes' : ''} | ${cell(dflt)} | ${cell(r.constraints.join('; '))} | ${cell(prose(r.description))} |`);
  }
  return lines.join('\n');
}

function validationTable(rows: ValidationRow[]): string {
  const lines = ['| Applies to | Rule (CEL) | Message |', '|---|---|---|'];
  for (const r of rows) lines.push(`| ${cell(code(r.path === '' ? '(object)' : r.path))} | ${cell(code(r.rule))} | ${cell(prose(r.message))} |`);
  return lines.join('\n');
}

const GENERATED_NOTE = 'Generated by `make docs` (scripts/generate-docs.ts) from';

function header(source: string): string {
  return `<!-- ${GENERATED_NOTE} ${source}. Do not edit: change the schema and run \`make docs\`. -->\n`;
}

const FIELD_NOTES = [
  '"Required" means required whenever the enclosing object is present. `[]` in a path is any item',
  'of a list, `<key>` any key of a map. Constraints are enforced by the API server (the CRD',
  'schema), before the controller ever sees the object; `agent-machine validate -f FILE` checks',
  'the same rules offline.',
].join('\n');

export function renderKindReference(contract: KindContract, schemas: Map<string, JsonSchema>): string {
  const inlined = inlineRefs(contract.schema, contract.file, schemas);
  const properties = (inlined['properties'] ?? {}) as Record<string, JsonSchema>;
  const { crd } = contract;
  const out: string[] = [];
  out.push(header(`contracts/${contract.file}`));
  out.push(`# ${crd.kind}\n`);
  if (typeof inlined['description'] === 'string') out.push(`${prose(inlined['description'])}\n`);
  out.push('| | |', '|---|---|');
  out.push(`| API version | \`${GROUP}/${VERSION}\` |`);
  out.push(`| Scope | ${crd.scope} |`);
  out.push(`| Resource | \`${crd.plural}.${GROUP}\` (singular \`${crd.singular}\`) |`);
  out.push(`| Short names | ${crd.shortNames.map(code).join(', ')} |`);
  out.push(`| Category | \`${CATEGORY}\` (\`kubectl get ${CATEGORY}\`) |`);
  out.push(`| Operation types | ${KIND_OPERATION_TYPES[crd.kind].map(code).join(', ')} |`);
  out.push(`| Schema | [\`contracts/${contract.file}\`](../../contracts/${contract.file}) |`);
  out.push('');

  out.push('## Printer columns\n');
  out.push('| Column | JSONPath | Shown by |', '|---|---|---|');
  for (const c of crd.printerColumns) out.push(`| ${c.name} | ${cell(code(c.jsonPath))} | ${c.priority ? '`kubectl get -o wide`' : '`kubectl get`'} |`);
  out.push('');

  const validations = validationRows(inlined, '');
  out.push('## Validation rules\n');
  out.push('CEL rules the API server evaluates on create and update (`x-kubernetes-validations`); a failing rule rejects the request with its message. Rules that use `oldSelf` only apply to updates.\n');
  out.push(validationTable(validations));
  out.push('');

  out.push('## Spec\n');
  out.push(`${FIELD_NOTES}\n`);
  out.push(fieldTable(fieldRows(properties['spec'] ?? {}, 'spec')));
  out.push('');

  out.push('## Status\n');
  out.push('Written only by the controller, through the `/status` subresource. `observedGeneration` is the `metadata.generation` the status describes (see [operations](../operations.md#status-and-health)).\n');
  out.push(fieldTable(fieldRows(properties['status'] ?? {}, 'status')));
  out.push('');

  out.push('## Conditions\n');
  out.push(`Every condition carries \`observedGeneration\`; \`lastTransitionTime\` moves only when its status flips. Reasons and what to do about them: [troubleshooting](../troubleshooting.md#${anchor(crd.kind)}).\n`);
  out.push('| Type | True means |', '|---|---|');
  for (const [type, meaning] of CONDITIONS_BY_KIND[crd.kind]) out.push(`| \`${type}\` | ${cell(meaning)} |`);
  out.push('');
  return out.join('\n');
}

export function renderContractReference(schemas: Map<string, JsonSchema>): string {
  const schema = schemas.get(CONTRACT_SCHEMA_FILE);
  if (!schema) throw new Error(`contracts/${CONTRACT_SCHEMA_FILE} is missing`);
  const inlined = inlinePointerRefs(schema, CONTRACT_SCHEMA_FILE, schemas);
  const out: string[] = [];
  out.push(header(`contracts/${CONTRACT_SCHEMA_FILE}`));
  out.push('# WorkspaceOperationContract\n');
  if (typeof inlined['description'] === 'string') out.push(`${prose(inlined['description'])}\n`);
  out.push('`agent-machine contract <kind>/<name>` prints it for one object; see [governance](../governance.md#the-workspaceoperationcontract).\n');
  out.push('## Fields\n');
  out.push(fieldTable(fieldRows(inlined, '')));
  out.push('');
  const validations = validationRows(inlined, '');
  if (validations.length > 0) {
    out.push('## Validation rules\n');
    out.push(validationTable(validations));
    out.push('');
  }
  return out.join('\n');
}

/**
 * Like inlineRefs, but follows any JSON pointer (`file#/$defs/operation/properties/state`): the
 * contract schema points into common definitions, which the CRD resolver never needs to.
 */
function inlinePointerRefs(node: unknown, fromFile: string, schemas: Map<string, JsonSchema>, depth = 0): any {
  if (depth > 64) throw new Error(`$ref chain too deep in ${fromFile}`);
  if (Array.isArray(node)) return node.map((v) => inlinePointerRefs(v, fromFile, schemas, depth + 1));
  if (!isObject(node)) return node;
  if (typeof node['$ref'] === 'string') {
    const [filePart, pointer = ''] = node['$ref'].split('#');
    const file = filePart || fromFile;
    let target: unknown = schemas.get(file);
    for (const segment of pointer.split('/').filter(Boolean)) target = isObject(target) ? target[segment.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    if (!isObject(target)) throw new Error(`$ref ${node['$ref']} in ${fromFile} points nowhere`);
    const { $ref: _ref, ...siblings } = node;
    const base = inlinePointerRefs(target, file, schemas, depth + 1) as JsonSchema;
    const merged: JsonSchema = { ...base };
    for (const [k, v] of Object.entries(siblings)) {
      const value = inlinePointerRefs(v, fromFile, schemas, depth + 1);
      merged[k] = k === 'required' ? [...new Set([...((base['required'] as string[]) ?? []), ...(value as string[])])] : value;
    }
    return merged;
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === '$defs' ? v : inlinePointerRefs(v, fromFile, schemas, depth + 1)]));
}

/** GitHub's heading anchors: lower case, spaces to dashes, punctuation dropped. */
export function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

export function renderReferenceIndex(contracts: KindContract[]): string {
  const out: string[] = [header('contracts/')];
  out.push('# API reference\n');
  out.push(`Group \`${GROUP}\`, version \`${VERSION}\`. One page per kind, generated from the JSON Schemas in [\`contracts/\`](../../contracts/) — the same schemas the CRDs in [\`crds/\`](../../crds/) and the TypeScript types are generated from.\n`);
  out.push('| Kind | Scope | Short names | Operation types |', '|---|---|---|---|');
  for (const c of contracts) {
    out.push(`| [${c.kind}](${fileNameFor(c.kind)}) | ${c.crd.scope} | ${c.crd.shortNames.map(code).join(', ')} | ${KIND_OPERATION_TYPES[c.kind].map(code).join(', ')} |`);
  }
  out.push('');
  out.push('Not a kind: the [WorkspaceOperationContract](workspace-operation-contract.md) document `agent-machine contract` prints.\n');
  return out.join('\n');
}

export function fileNameFor(kind: string): string {
  return `${kind.toLowerCase()}.md`;
}

/** docs/reference/*.md, path relative to the repository root. */
export function referenceFiles(schemas = loadAllSchemas()): Array<{ path: string; content: string }> {
  const contracts = loadKindContracts(schemas);
  return [
    { path: `${REFERENCE_DIR}/README.md`, content: renderReferenceIndex(contracts) },
    ...contracts.map((c) => ({ path: `${REFERENCE_DIR}/${fileNameFor(c.kind)}`, content: renderKindReference(c, schemas) })),
    { path: `${REFERENCE_DIR}/workspace-operation-contract.md`, content: renderContractReference(schemas) },
  ];
}
