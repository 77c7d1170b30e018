// Builds a diagnostics bundle from what was gathered: every file goes through one Redactor, the
// finished files are checked, and only then is the gzip'd tarball made. Pure (no I/O), so the
// CLI and the controller produce the same bundle from the same inputs.
//
//   manifest.json                 what is inside, versions, scope, redaction counts, the flags
//   objects/<Kind>/<name>.yaml    spec + status (managedFields and last-applied dropped)
//   events.json                   Kubernetes Events about the scoped objects
//   logs/<record>.txt             container log tails (ContainerExecutionRecord status.logTail)
//   audit.jsonl                   the controller's audit records about the scoped objects
//   controller.json               controller version and configuration (no secrets)
//   runtime.json                  container runtimes as the exporter sees them
//   metrics.txt                   a /metrics snapshot
//   records/prophet-core/<Kind>/<name>.json   upstream WorkspaceOperation/OperationTask/OperationEvents
//   records/local-operation-log.jsonl         upstream LocalOperationLog entries of audit.jsonl
//
// Fail closed: the bundle is refused (no tarball) when the redactor reports an internal error,
// when any finished file still contains any form of a known secret value, or when redacting a
// finished file again would change it (a second pass finding something means the first let
// something through). The four *Included flags are what that check found, per category.
// Container command/args/env values are treated as prompt-bearing (withoutPromptArguments).
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION } from '../api/group.ts';
import { REDACTION_CATEGORIES, type RedactionCategory, type RedactionReport } from '../redaction/placeholders.ts';
import type { PromptMatcher } from '../redaction/prompt-matcher.ts';
import { isSensitiveKey } from '../redaction/sensitive-keys.ts';
import { Redactor } from '../redaction/redactor.ts';
import { writeTar } from './tar.ts';
import type { DeviceContext } from '../api/upstream-records/common.ts';
import { upstreamRecordFiles } from './upstream-records.ts';

export const MANIFEST_KIND = 'DiagnosticBundleManifest';

export interface BundleScope {
  namespace: string;
  /** Execution names asked for; absent: every execution in the namespace (within the window). */
  executions?: string[];
  since?: string;
  until?: string;
}

export interface BundleInclude {
  objects: boolean;
  events: boolean;
  logs: boolean;
  audit: boolean;
  controller: boolean;
  runtime: boolean;
  metrics: boolean;
}

export const DEFAULT_INCLUDE: Readonly<BundleInclude> = { objects: true, events: true, logs: true, audit: true, controller: true, runtime: true, metrics: true };

export function includeFrom(spec: Partial<BundleInclude> | undefined): BundleInclude {
  return { ...DEFAULT_INCLUDE, ...Object.fromEntries(Object.entries(spec ?? {}).filter(([, v]) => typeof v === 'boolean')) };
}

/** The four upstream flags, as the final leak check found the finished files. */
export interface BundleFlags {
  credentialsIncluded: boolean;
  tokensIncluded: boolean;
  localSecretsIncluded: boolean;
  sensitivePromptsIncluded: boolean;
}

/** Which flag a redaction category found by the check's second pass sets. */
const FLAG_OF: Record<RedactionCategory, keyof BundleFlags> = {
  secretValue: 'localSecretsIncluded',
  privateKey: 'credentialsIncluded',
  gcpPrivateKey: 'credentialsIncluded',
  awsAccessKey: 'credentialsIncluded',
  awsSecretKey: 'credentialsIncluded',
  azureKey: 'credentialsIncluded',
  urlPassword: 'credentialsIncluded',
  sensitiveKey: 'credentialsIncluded',
  jwt: 'tokensIncluded',
  authorizationHeader: 'tokensIncluded',
  bearerToken: 'tokensIncluded',
  githubToken: 'tokensIncluded',
  gitlabToken: 'tokensIncluded',
  slackToken: 'tokensIncluded',
  openaiKey: 'tokensIncluded',
  anthropicKey: 'tokensIncluded',
  huggingfaceToken: 'tokensIncluded',
  npmToken: 'tokensIncluded',
  executionToken: 'tokensIncluded',
  prompt: 'sensitivePromptsIncluded',
};

export interface BundleSources {
  /** The scoped agent-machine objects (and the profiles they live under). */
  objects: KubernetesObject[];
  events: unknown[];
  logs: Array<{ record: string; text: string }>;
  /** Raw audit log lines about the scoped objects; undefined when no audit log was available. */
  audit?: string[];
  controller?: Record<string, unknown>;
  runtime?: Record<string, unknown>;
  /** Prometheus text; undefined when no metrics endpoint was known. */
  metrics?: string;
  /** Things the gatherer wants a reader to know (execution not found, Secret unreadable...). */
  notes: string[];
  /** Who emits the upstream records (their device id); absent: no records/ in the bundle. */
  device?: DeviceContext;
  /** Which audit store the audit lines came from. */
  auditStore?: 'file' | 'cluster';
}

export interface BuildOptions {
  scope: BundleScope;
  include: BundleInclude;
  /** Values of every Secret the bundled objects reference: none may appear in the bundle. */
  secretValues: Iterable<string>;
  generator: { via: 'cli' | 'controller'; version: string; bundle?: { name: string; uid?: string } };
  now: Date;
  /** Prompt texts known to have been sent for the scoped executions (the controller's gateway). */
  prompts?: PromptMatcher;
}

export interface BundleFileInfo {
  path: string;
  bytes: number;
  sha256: string;
}

export type BuildResult =
  | {
      ok: true;
      tarGz: Buffer;
      /** sha256:<hex> of tarGz. */
      digest: string;
      sizeBytes: number;
      report: RedactionReport;
      manifest: Record<string, unknown>;
      files: BundleFileInfo[];
      /** All false: the check found nothing (else no bundle). */
      flags: BundleFlags;
    }
  | { ok: false; reason: 'RedactionFailed' | 'LeakDetected'; message: string; report: RedactionReport; flags?: BundleFlags };

const DROPPED_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'];

export function buildBundle(sources: BundleSources, opts: BuildOptions): BuildResult {
  const redactor = new Redactor({ secretValues: opts.secretValues, ...(opts.prompts ? { prompts: opts.prompts } : {}) });
  const files = new Map<string, string>();
  const inc = opts.include;

  if (inc.objects) {
    for (const obj of sources.objects) {
      const kind = safeSegment(obj.kind ?? 'Unknown');
      const name = safeSegment(obj.metadata?.name ?? 'unnamed');
      files.set(`objects/${kind}/${name}.yaml`, stringify(redactor.value(withoutPromptArguments(redactor, cleanObject(obj))), { lineWidth: 0, aliasDuplicateObjects: false, version: '1.1' }));
    }
  }
  if (inc.events) files.set('events.json', json(redactor.value(sources.events.map(cleanObject))));
  if (inc.logs) for (const l of sources.logs) files.set(`logs/${safeSegment(l.record)}.txt`, redactor.text(l.text));
  if (inc.audit && sources.audit !== undefined) files.set('audit.jsonl', sources.audit.map((line) => redactAuditLine(redactor, line)).join(''));
  if (inc.controller && sources.controller) files.set('controller.json', json(redactor.value(sources.controller)));
  if (inc.runtime && sources.runtime) files.set('runtime.json', json(redactor.value(sources.runtime)));
  if (inc.metrics && sources.metrics !== undefined) files.set('metrics.txt', redactor.text(sources.metrics));

  const recordNotes: string[] = [];
  if (sources.device) {
    const records = upstreamRecordFiles(sources.objects, sources.audit, sources.device, { objects: inc.objects, audit: inc.audit, auditStore: sources.auditStore ?? 'file', now: opts.now, segment: safeSegment });
    // Through the same redactor as the files they are made from.
    for (const [path, content] of records.files) files.set(path, path.endsWith('.jsonl') ? content.split('\n').filter((l) => l !== '').map((l) => redactAuditLine(redactor, l)).join('') : json(redactor.value(JSON.parse(content) as unknown)));
    recordNotes.push(...records.notes);
  }

  const scope = redactor.value(opts.scope);
  const notes = [...sources.notes, ...recordNotes].map((n) => redactor.text(n));
  if (redactor.failed) return { ok: false, reason: 'RedactionFailed', message: redactor.errors.slice(0, 3).join('; '), report: redactor.report() };

  const report = redactor.report();
  const infos: BundleFileInfo[] = [...files.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, content]) => ({ path, bytes: Buffer.byteLength(content), sha256: sha256(content) }));

  // The final check, on exactly the bytes that would be written; the flags are what it found.
  const problems: string[] = [];
  const flags: BundleFlags = { credentialsIncluded: false, tokensIncluded: false, localSecretsIncluded: false, sensitivePromptsIncluded: false };
  const checkLeaks = (path: string, content: string) => {
    const leaks = redactor.secrets.leaks(content);
    if (leaks.length === 0) return;
    flags.localSecretsIncluded = true;
    const kinds = [...new Set(leaks.map((l) => l.kind))].join(', ');
    const why = leaks.some((l) => !l.scrubbable) ? ': it is a word the bundle itself uses, so it cannot be redacted; give that Secret a real secret value' : '';
    problems.push(`${path}: known secret value #${leaks[0]!.value + 1} remains (${kinds} form)${why}`);
  };
  for (const [path, content] of files) {
    checkLeaks(path, content);
    const check = new Redactor({ secretSet: redactor.secrets, ...(opts.prompts ? { prompts: opts.prompts } : {}) });
    const again = check.text(content);
    const found = Object.keys(check.report()) as RedactionCategory[];
    for (const c of found) flags[FLAG_OF[c]] = true;
    if (check.failed) problems.push(`${path}: ${check.errors[0]}`);
    else if (again !== content) problems.push(`${path}: a second redaction pass still found ${found.join(', ') || 'something'}`);
  }

  const manifest: Record<string, unknown> = {
    apiVersion: API_VERSION,
    kind: MANIFEST_KIND,
    generatedAt: opts.now.toISOString(),
    generator: { name: 'agent-machine', version: opts.generator.version, via: opts.generator.via, node: process.version, ...(opts.generator.bundle ? { bundle: opts.generator.bundle } : {}) },
    scope,
    include: inc,
    counts: {
      objects: inc.objects ? sources.objects.length : 0,
      events: inc.events ? sources.events.length : 0,
      logs: inc.logs ? sources.logs.length : 0,
      auditRecords: inc.audit ? (sources.audit?.length ?? 0) : 0,
    },
    redactionReport: report,
    redactionCategories: REDACTION_CATEGORIES,
    secretValuesChecked: redactor.secrets.size,
    ...(redactor.secrets.tooShort > 0 ? { secretValuesTooShortToCheck: redactor.secrets.tooShort } : {}),
    ...flags,
    notes,
    files: infos,
  };
  const manifestText = json(manifest);
  // The manifest is ours alone (its report keys look like credential names to the key rule):
  // only known values are looked for in it.
  checkLeaks('manifest.json', manifestText);
  if (problems.length > 0) {
    return { ok: false, reason: 'LeakDetected', message: `refusing to write the bundle: ${problems.slice(0, 5).join('; ')}`, report, flags };
  }

  const mtime = Math.floor(opts.now.getTime() / 1000);
  const tar = writeTar([
    { path: 'manifest.json', data: Buffer.from(manifestText), mtime },
    ...infos.map((f) => ({ path: f.path, data: Buffer.from(files.get(f.path)!), mtime })),
  ]);
  const tarGz = gzipSync(tar, { level: 9 });
  return { ok: true, tarGz, digest: `sha256:${sha256(tarGz)}`, sizeBytes: tarGz.length, report, manifest, files: infos, flags };
}

/** managedFields and the last-applied annotation are noise (and the latter repeats the spec). */
export function cleanObject<T>(obj: T): T {
  if (obj === null || typeof obj !== 'object') return obj;
  const copy = { ...(obj as Record<string, unknown>) };
  const meta = copy.metadata;
  if (meta && typeof meta === 'object') {
    const m = { ...(meta as Record<string, unknown>) };
    delete m.managedFields;
    if (m.annotations && typeof m.annotations === 'object') {
      const a = { ...(m.annotations as Record<string, string>) };
      for (const k of DROPPED_ANNOTATIONS) delete a[k];
      m.annotations = Object.keys(a).length > 0 ? a : undefined;
      if (m.annotations === undefined) delete m.annotations;
    }
    copy.metadata = m;
  }
  return copy as T;
}

/**
 * Container command, args and env values carry prompts (`agent -p "…"`): free text in them
 * becomes its digest (Redactor.argument), in executions and in container records. Env values
 * of credential-named variables are left to the redactor's key rule.
 */
function withoutPromptArguments<T>(redactor: Redactor, obj: T): T {
  try {
    return promptArgumentsHashed(redactor, obj);
  } catch (err) {
    // As the redactor does: recorded (the bundle fails closed), nothing of the input kept.
    redactor.errors.push(`redactor failed on a command: ${err instanceof Error ? err.message : String(err)}`);
    return {} as T;
  }
}

function promptArgumentsHashed<T>(redactor: Redactor, obj: T): T {
  const o = obj as { kind?: string; spec?: Record<string, unknown> };
  const spec = o.spec;
  if (!spec || (o.kind !== 'LocalAgentExecution' && o.kind !== 'ContainerExecutionRecord')) return obj;
  const container = (c: unknown): unknown => {
    if (c === null || typeof c !== 'object') return c;
    const copy = { ...(c as Record<string, unknown>) };
    for (const k of ['command', 'args']) if (Array.isArray(copy[k])) copy[k] = (copy[k] as unknown[]).map((a) => (typeof a === 'string' ? redactor.argument(a) : a));
    if (Array.isArray(copy.env)) {
      copy.env = (copy.env as unknown[]).map((e) => {
        const v = e as { name?: unknown; value?: unknown };
        if (v === null || typeof v !== 'object' || typeof v.value !== 'string' || (typeof v.name === 'string' && isSensitiveKey(v.name))) return e;
        return { ...v, value: redactor.argument(v.value) };
      });
    }
    return copy;
  };
  const next = { ...spec };
  if (Array.isArray(spec.containers)) next.containers = spec.containers.map(container);
  if (spec.container !== undefined) next.container = container(spec.container);
  return { ...o, spec: next } as T;
}

function redactAuditLine(redactor: Redactor, line: string): string {
  const trimmed = line.replace(/\n$/, '');
  if (trimmed === '') return '';
  try {
    return `${JSON.stringify(redactor.value(JSON.parse(trimmed) as unknown))}\n`;
  } catch {
    return `${redactor.text(trimmed)}\n`;
  }
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A path segment from an object name: names are DNS labels, but never trust that. */
function safeSegment(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return s === '' ? '_' : s.slice(0, 200);
}
