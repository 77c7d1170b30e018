// What `agent-machine validate` decides about a set of YAML documents, with no cluster:
//
//  1. schema: contracts/ with ajv (types, required fields, patterns, enums, unknown fields);
//  2. the CRDs' x-kubernetes-validations CEL rules and list-type uniqueness (crd-rules.ts),
//     except transition rules, which need the stored object;
//  3. metadata.name as the API server checks it for custom resources;
//  4. profiles: every CEL rule compiles and passes the static limits (what makes a profile
//     Invalid in the cluster);
//  5. objects whose profile is in the same set: their budget and policy gates as the
//     controller will judge them (built-in rules of the profile type and its CEL rules).
//
// Objects of other API groups (Namespaces, RBAC, kustomization files) are counted and skipped.
import { CrdRules } from './crd-rules.ts';
import { toFieldError } from '../../api/field-errors.ts';
import { formatFieldPath, type FieldPath } from '../../api/field-path.ts';
import { API_VERSION, GROUP, isKindName, type KindName } from '../../api/group.ts';
import type { AgentMachineProfile, ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../../api/types.generated.ts';
import { ContractValidator } from '../../api/validation.ts';
import { fitExecutionBudget, type FullBudget } from '../../governance/budget.ts';
import { checkCelRules } from '../../governance/cel-rules.ts';
import type { CelSandbox } from '../../governance/cel-sandbox.ts';
import type { Decision } from '../../governance/decision.ts';
import { evaluatePolicy } from '../../governance/policy.ts';
import { parseExpiry } from '../../governance/authority.ts';
import { didYouMean } from '../../reconcilers/nearest-name.ts';
import { containerRequests, modelProviderUseRequest, toolGrantRequest, type PolicyRequest } from '../../governance/requests.ts';
import type { YamlDocument } from './yaml-documents.ts';

export interface SourceDocument {
  file: string;
  doc: YamlDocument;
}

export interface Finding {
  file: string;
  line: number;
  /** kind/name, or what is known of it. */
  ref: string;
  message: string;
}

export interface CheckSummary {
  findings: Finding[];
  /** What may be fine in the cluster but looks wrong from the files (a profile not among them). */
  warnings: Finding[];
  /** agent-machine objects checked. */
  objects: number;
  /** agent-machine objects with at least one finding. */
  invalidObjects: number;
  /** Documents of other API groups, skipped. */
  skipped: number;
  /** CEL transition rules (oldSelf) that applied but cannot be checked without the stored object. */
  skippedTransitionRules: number;
  /** CRD rules cel-js could not compile, so not checked. */
  uncheckableRules: string[];
}

interface Candidate {
  file: string;
  doc: YamlDocument;
  /** Where the object sits in its document: [] or ['items', i] inside a v1 List. */
  at: FieldPath;
  object: Record<string, unknown>;
}

interface Checked extends Candidate {
  kind: KindName;
  ref: string;
  clean: boolean;
}

// What the API server requires of a custom resource's name (a DNS-1123 subdomain).
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * `sandbox` runs the profiles' CEL rules; the caller owns (and closes) it. Compiling the
 * contracts takes a good part of a second: a caller that checks often passes its own validator
 * and CRD rules.
 */
export function checkDocuments(sources: readonly SourceDocument[], sandbox: CelSandbox, validator = new ContractValidator(), crdRules = new CrdRules(), now: Date = new Date()): CheckSummary {
  const summary: CheckSummary = { findings: [], warnings: [], objects: 0, invalidObjects: 0, skipped: 0, skippedTransitionRules: 0, uncheckableRules: [] };
  const checked: Checked[] = [];
  for (const { file, doc } of sources) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) summary.findings.push({ file, line: e.line, ref: 'yaml', message: e.message });
      continue;
    }
    for (const candidate of candidatesOf(file, doc, summary)) {
      const result = checkObject(candidate, validator, crdRules, summary);
      if (result) checked.push(result);
    }
  }
  checkExpiredDelegations(checked, summary, now);
  checkAgainstProfiles(checked, summary, sandbox);
  // Read top to bottom: files in the order given, each file's findings by line (stable, so
  // findings on one line keep the order of the checks).
  const fileOrder = new Map<string, number>();
  for (const { file } of sources) if (!fileOrder.has(file)) fileOrder.set(file, fileOrder.size);
  const byPlace = (a: Finding, b: Finding) => (fileOrder.get(a.file) ?? 0) - (fileOrder.get(b.file) ?? 0) || a.line - b.line;
  summary.findings.sort(byPlace);
  summary.warnings.sort(byPlace);
  summary.objects += checked.length;
  summary.invalidObjects += checked.filter((c) => !c.clean).length;
  return summary;
}

/** The agent-machine objects of a document: itself, or the items of a v1 List. */
function candidatesOf(file: string, doc: YamlDocument, summary: CheckSummary): Candidate[] {
  const value = doc.value;
  if (value === null || value === undefined) return []; // an empty document, e.g. a trailing ---
  if (typeof value !== 'object' || Array.isArray(value)) {
    summary.findings.push({ file, line: doc.line, ref: 'document', message: 'not a Kubernetes object (expected a mapping with apiVersion and kind)' });
    return [];
  }
  const object = value as Record<string, unknown>;
  if (object['apiVersion'] === 'v1' && typeof object['kind'] === 'string' && object['kind'].endsWith('List') && Array.isArray(object['items'])) {
    return (object['items'] as unknown[]).flatMap((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        summary.findings.push({ file, line: doc.lineOf(['items', i]), ref: 'document', message: `items[${i}]: not a Kubernetes object` });
        return [];
      }
      return [{ file, doc, at: ['items', i], object: item as Record<string, unknown> }];
    });
  }
  return [{ file, doc, at: [], object }];
}

function checkObject(c: Candidate, validator: ContractValidator, crdRules: CrdRules, summary: CheckSummary): Checked | undefined {
  const { apiVersion, kind } = c.object;
  const metadata = (c.object['metadata'] ?? {}) as { name?: unknown; generateName?: unknown };
  const name = typeof metadata.name === 'string' ? metadata.name : typeof metadata.generateName === 'string' ? `${metadata.generateName}*` : '<no name>';
  if (typeof apiVersion !== 'string' || apiVersion.split('/')[0] !== GROUP) {
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
      report(summary, c, [], 'document', 'not a Kubernetes object: apiVersion and kind are required');
    } else {
      summary.skipped++;
    }
    return undefined;
  }
  const ref = `${typeof kind === 'string' ? kind.toLowerCase() : 'unknown'}/${name}`;
  // Meant for agent-machine, so counted, but not checked further.
  if (apiVersion !== API_VERSION) {
    summary.objects++;
    summary.invalidObjects++;
    report(summary, c, ['apiVersion'], ref, `apiVersion: Unsupported value: ${JSON.stringify(apiVersion)}: ${GROUP} serves ${API_VERSION}`);
    return undefined;
  }
  if (!isKindName(kind)) {
    summary.objects++;
    summary.invalidObjects++;
    report(summary, c, ['kind'], ref, `no kind ${JSON.stringify(kind)} is registered in ${API_VERSION}`);
    return undefined;
  }
  const before = summary.findings.length;

  if (typeof metadata.name !== 'string' && typeof metadata.generateName !== 'string') {
    report(summary, c, ['metadata'], ref, 'metadata.name: Required value: name or generateName is required');
  } else if (typeof metadata.name === 'string' && (metadata.name.length > 253 || !DNS_SUBDOMAIN.test(metadata.name))) {
    report(summary, c, ['metadata', 'name'], ref, `metadata.name: Invalid value: ${JSON.stringify(metadata.name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`);
  }

  const schema = validator.validate(c.object);
  for (const issue of schema.issues) {
    const e = toFieldError(issue, c.object);
    report(summary, c, e.path, ref, e.message);
  }

  const rules = crdRules.check(kind, c.object, { schemaValid: schema.valid });
  summary.skippedTransitionRules += rules.skippedTransitionRules;
  for (const rule of rules.uncheckable) if (!summary.uncheckableRules.includes(rule)) summary.uncheckableRules.push(rule);
  for (const issue of rules.issues) {
    const field = formatFieldPath(issue.path);
    report(summary, c, issue.path, ref, field ? `${field}: ${issue.message}` : issue.message);
  }

  if (kind === 'AgentMachineProfile' && summary.findings.length === before) {
    const spec = (c.object as unknown as AgentMachineProfile).spec;
    checkCelRules({ spec }).forEach((d, i) => {
      if (d.allowed) return;
      const at = ['spec', 'rules', i, 'expression'];
      report(summary, c, at, ref, `${formatFieldPath(at)}: Invalid value: ${JSON.stringify(clip(spec.rules?.[i]?.expression ?? ''))}: ${d.message} (the profile would be Invalid: reason InvalidRule)`);
    });
  }
  return { ...c, kind, ref, clean: summary.findings.length === before };
}

/**
 * Budget and policy gates, for objects whose profile is in the same set and valid: the same
 * requests the reconcilers build, judged by the same functions. A profile only in the cluster
 * is not known here, so those objects are not judged.
 */
function checkAgainstProfiles(checked: Checked[], summary: CheckSummary, sandbox: CelSandbox): void {
  const profiles = new Map<string, Checked>();
  const profileNames = new Set<string>();
  for (const c of checked) {
    const name = (c.object['metadata'] as { name?: unknown } | undefined)?.name;
    if (c.kind === 'AgentMachineProfile' && typeof name === 'string') profileNames.add(name);
    if (c.kind === 'AgentMachineProfile' && c.clean && typeof name === 'string') profiles.set(name, c);
  }
  for (const c of checked) {
    if (c.kind === 'AgentMachineProfile' || c.kind === 'AgentMachineDiagnosticBundle') continue;
    const profileName = (c.object['spec'] as { profileRef?: { name?: string } } | undefined)?.profileRef?.name;
    // Not an error: the profile may be in the cluster already. But a typo waits for ever.
    if (typeof profileName === 'string' && !profileNames.has(profileName)) {
      summary.warnings.push({ file: c.file, line: c.doc.lineOf([...c.at, 'spec', 'profileRef', 'name']), ref: c.ref, message: `spec.profileRef.name: profile ${profileName} is not among the files${didYouMean(profileName, profileNames)}; it must exist in the cluster, or this object waits (Pending, ProfileNotFound)` });
    }
    if (!c.clean) continue;
    const profileDoc = profileName === undefined ? undefined : profiles.get(profileName);
    if (!profileDoc) continue;
    const profile = profileDoc.object as unknown as AgentMachineProfile;
    const deny = (path: FieldPath, d: Decision): void => {
      report(summary, c, path, c.ref, `${formatFieldPath(path)}: Forbidden: profile ${profileName} (${profileDoc.file}) denies it, ${d.gate} gate, rule ${d.rule}: ${d.message}`);
      c.clean = false;
    };
    const gates = (path: FieldPath, requests: PolicyRequest[]): void => {
      for (const request of requests) for (const d of evaluatePolicy(profile, request, { sandbox }).decisions) if (!d.allowed) deny(path, d);
    };
    // An execution's budget is split over its containers (budget.ts containerShare).
    const budget = (spec: { budget?: LocalAgentExecution['spec']['budget'] }, containers = 1): void => {
      for (const d of fitExecutionBudget(spec.budget, profile.spec.budgetCeilings as FullBudget, containers).decisions) {
        if (!d.allowed) deny(['spec', 'budget', ...(spec.budget && d.rule.startsWith('budget.') ? [d.rule.slice('budget.'.length)] : [])], d);
      }
    };
    switch (c.kind) {
      case 'LocalAgentExecution': {
        const spec = (c.object as unknown as LocalAgentExecution).spec;
        budget(spec, spec.containers.length);
        spec.containers.forEach((container, i) => gates(['spec', 'containers', i], containerRequests(container, spec.tenant, undefined, spec.network?.mode, spec.network?.egressAllowlist)));
        break;
      }
      case 'ContainerExecutionRecord': {
        const spec = (c.object as unknown as ContainerExecutionRecord).spec;
        budget(spec);
        gates(['spec', 'container'], containerRequests(spec.container, spec.tenant, undefined, spec.network?.mode));
        break;
      }
      case 'ToolGrantRecord': {
        const spec = (c.object as unknown as ToolGrantRecord).spec;
        // A revoked grant is out of service whatever the policy says.
        if (!spec.revoked) gates(['spec', 'tool'], [toolGrantRequest(spec)]);
        break;
      }
      case 'ModelProviderBinding':
        gates(['spec', 'endpoint'], [modelProviderUseRequest((c.object as unknown as ModelProviderBinding).spec)]);
        break;
    }
  }
}

/**
 * A delegation that has expired already: the controller would deny the object
 * (AuthorityExpired), so a repository that still applies it is wrong. A revoked grant is out
 * of service anyway.
 */
function checkExpiredDelegations(checked: Checked[], summary: CheckSummary, now: Date): void {
  for (const c of checked) {
    if (!c.clean) continue;
    const spec = c.object['spec'] as { authority?: { expiresAt?: unknown }; revoked?: unknown } | undefined;
    if (c.kind === 'ToolGrantRecord' && spec?.revoked === true) continue;
    const expiresAt = spec?.authority?.expiresAt;
    const expiry = parseExpiry(expiresAt);
    if (!expiry || expiry.getTime() > now.getTime()) continue;
    report(summary, c, ['spec', 'authority', 'expiresAt'], c.ref, `spec.authority.expiresAt: Invalid value: ${JSON.stringify(expiresAt)}: the delegation has expired (the object would be denied: AuthorityExpired); renew it`);
    c.clean = false;
  }
}

function report(summary: CheckSummary, c: Candidate, path: FieldPath, ref: string, message: string): void {
  summary.findings.push({ file: c.file, line: c.doc.lineOf([...c.at, ...path]), ref, message });
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
