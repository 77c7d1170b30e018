// Collects what a diagnostics bundle is made of, with whatever credentials the KubeClients
// carry: the CLI gathers as the person running it, the controller as itself. Then
// bundle.ts redacts and checks it.
//
// Scope: the bundle's namespace; the executions named (else every execution in the
// namespace whose life overlaps the time window); their ContainerExecutionRecords, the
// ToolGrantRecords for their tools, their ModelProviderBindings and profiles. Events and audit
// records about those objects inside the window.
//
// Secrets: the values of every Secret the scoped objects reference (env secretKeyRef,
// credentialsSecretRef) or own (gateway tokens, Pod env Secrets) are read so they can be
// scrubbed. A referenced Secret that exists but cannot be read fails the export: without its
// values nothing can prove they are not in the bundle.
import type { KubernetesObject } from '@kubernetes/client-node';
import { RESOURCES } from '../api/resources.ts';
import type { AgentMachineProfile, ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import { describeError, isNotFound, statusCodeOf, type KubeClients } from '../operator/kube-clients.ts';
import { SECRETS } from '../operator/resource.ts';
import type { BundleInclude, BundleScope, BundleSources } from './bundle.ts';
import { auditLines, describeSource, sourceExists, type AuditSource } from '../governance/audit-source.ts';
import { readDeviceContext } from '../operator/device-context.ts';

/** An export that must not go ahead (fail closed): not retried as a transient error. */
export class ExportRefused extends Error {
  override readonly name = 'ExportRefused';
}

export interface GatherOptions {
  clients: KubeClients;
  scope: BundleScope;
  include: BundleInclude;
  now: Date;
  /** The controller's audit trail (its file, or its segments in the API server); absent: no audit.jsonl. */
  audit?: AuditSource;
  /** Prometheus text of /metrics, when one is known. */
  metrics?: () => Promise<string | undefined>;
  controller?: () => Record<string, unknown>;
  runtime?: (objects: KubernetesObject[]) => Promise<Record<string, unknown>>;
  /** The node the upstream records' device id names (the controller's own); absent: the cluster's only Node, else `cluster`. */
  node?: string;
}

export interface Gathered {
  sources: BundleSources;
  secretValues: string[];
  /** How many Secrets were read for their values. */
  secretsRead: number;
}

const MAX_EVENTS = 2000;
const MAX_AUDIT_RECORDS = 5000;
type AnyObject = KubernetesObject & { spec?: any; status?: any };

export async function gather(opts: GatherOptions): Promise<Gathered> {
  const { clients, scope, now } = opts;
  const ns = scope.namespace;
  const since = scope.since ? Date.parse(scope.since) : undefined;
  const until = scope.until ? Date.parse(scope.until) : undefined;
  const inWindow = (t: number | undefined) => t === undefined || ((since === undefined || t >= since) && (until === undefined || t <= until));
  const notes: string[] = [];

  const allExecutions = await list<LocalAgentExecution>(clients, RESOURCES.LocalAgentExecution.apiPath(ns));
  const named = scope.executions && scope.executions.length > 0 ? new Set(scope.executions) : undefined;
  const executions = named
    ? allExecutions.filter((e) => named.has(e.metadata.name!))
    : allExecutions.filter((e) => overlaps(e.metadata.creationTimestamp, e.status?.finishedAt, since, until, now));
  for (const name of named ?? []) if (!executions.some((e) => e.metadata.name === name)) notes.push(`execution ${name} not found in namespace ${ns}`);

  const executionUids = new Set(executions.map((e) => e.metadata.uid!));
  const executionNames = new Set(executions.map((e) => e.metadata.name!));
  // Records of the scoped executions; without names, also standalone records in the window.
  const records = (await list<ContainerExecutionRecord>(clients, RESOURCES.ContainerExecutionRecord.apiPath(ns))).filter((r) => {
    const owner = r.metadata.ownerReferences?.find((o) => o.kind === 'LocalAgentExecution');
    if (owner) return executionUids.has(owner.uid);
    if (r.spec.executionRef) return executionNames.has(r.spec.executionRef.name);
    return !named && overlaps(r.metadata.creationTimestamp, r.status?.finishedAt, since, until, now);
  });
  const tools = new Set(executions.flatMap((e) => e.spec.tools ?? []));
  const grants = (await list<ToolGrantRecord>(clients, RESOURCES.ToolGrantRecord.apiPath(ns))).filter((g) => (named ? tools.has(g.spec.tool) : true));
  const bindingNames = new Set(executions.map((e) => e.spec.modelProviderRef?.name).filter((n): n is string => n !== undefined));
  const bindings = (await list<ModelProviderBinding>(clients, RESOURCES.ModelProviderBinding.apiPath(ns))).filter((b) => (named ? bindingNames.has(b.metadata.name!) : true));

  const profiles: AgentMachineProfile[] = [];
  const profileNames = [...new Set([...executions, ...records, ...grants, ...bindings].map((o) => o.spec.profileRef?.name).filter((n): n is string => !!n))].sort();
  for (const name of profileNames) {
    try {
      profiles.push(await clients.request<AgentMachineProfile>({ method: 'GET', path: RESOURCES.AgentMachineProfile.apiPath(undefined, name) }));
    } catch (err) {
      const code = statusCodeOf(err);
      if (code !== 404 && code !== 403) throw err;
      notes.push(`profile ${name}: ${describeError(err)}`);
    }
  }
  const objects: AnyObject[] = [...profiles, ...executions, ...records, ...grants, ...bindings];
  const uids = new Set(objects.map((o) => o.metadata?.uid).filter((u): u is string => !!u));

  // Secret values, fail closed.
  const { values: secretValues, read: secretsRead } = await readSecretValues(clients, ns, objects, uids, notes);

  let events: unknown[] = [];
  if (opts.include.events) {
    const all = await list<AnyObject & { regarding?: { uid?: string; kind?: string; name?: string } }>(clients, `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/events`);
    const names = new Set(objects.map((o) => `${o.kind}/${o.metadata?.name}`));
    events = all
      .filter((e) => (e.regarding?.uid ? uids.has(e.regarding.uid) : names.has(`${e.regarding?.kind}/${e.regarding?.name}`)))
      .filter((e) => inWindow(eventTime(e)))
      .sort((a, b) => (eventTime(a) ?? 0) - (eventTime(b) ?? 0));
    if (events.length > MAX_EVENTS) {
      notes.push(`${events.length} events matched; the newest ${MAX_EVENTS} are included`);
      events = events.slice(-MAX_EVENTS);
    }
  }

  const logs = opts.include.logs
    ? records.filter((r) => typeof r.status?.logTail === 'string' && r.status.logTail !== '').map((r) => ({ record: r.metadata.name!, text: r.status!.logTail! }))
    : [];

  let audit: string[] | undefined;
  if (opts.include.audit) {
    if (opts.audit && sourceExists(opts.audit)) {
      audit = await readAudit(opts.audit, ns, objects, uids, inWindow);
      if (audit.length > MAX_AUDIT_RECORDS) {
        notes.push(`${audit.length} audit records matched; the newest ${MAX_AUDIT_RECORDS} are included`);
        audit = audit.slice(-MAX_AUDIT_RECORDS);
      }
    } else {
      notes.push(opts.audit ? `audit log ${describeSource(opts.audit)} not found` : 'no audit log available to this exporter (the controller keeps it; the CLI reads one with --audit-log)');
    }
  }

  let metrics: string | undefined;
  if (opts.include.metrics && opts.metrics) {
    try {
      metrics = await opts.metrics();
    } catch (err) {
      notes.push(`metrics: ${describeError(err)}`);
    }
  }
  if (opts.include.metrics && metrics === undefined) notes.push('no metrics snapshot (no /metrics URL known)');

  const device = await readDeviceContext(clients, opts.node, (m) => notes.push(`upstream records: ${m}`));

  return {
    sources: {
      objects,
      events,
      device,
      ...(opts.audit ? { auditStore: opts.audit.kind } : {}),
      logs,
      ...(audit !== undefined ? { audit } : {}),
      ...(opts.include.controller && opts.controller ? { controller: opts.controller() } : {}),
      ...(opts.include.runtime && opts.runtime ? { runtime: await opts.runtime(objects) } : {}),
      ...(metrics !== undefined ? { metrics } : {}),
      notes,
    },
    secretValues,
    secretsRead,
  };
}

/** Which runtime each scoped record ran on, with its image digest and outcome. */
export function recordRuntimes(objects: KubernetesObject[]): Array<Record<string, unknown>> {
  return objects
    .filter((o) => o.kind === 'ContainerExecutionRecord')
    .map((o) => {
      const r = o as KubernetesObject & { spec?: { runtime?: string; container?: { image?: string } }; status?: Record<string, unknown> };
      return {
        record: o.metadata?.name,
        runtime: r.status?.runtime ?? r.spec?.runtime,
        image: r.spec?.container?.image,
        imageDigest: r.status?.imageDigest,
        containerId: r.status?.containerId,
        phase: r.status?.phase,
        exitCode: r.status?.exitCode,
        oomKilled: r.status?.oomKilled,
      };
    });
}

/** Names of Secrets an object references (env secretKeyRef, credentialsSecretRef). */
export function referencedSecrets(obj: AnyObject): string[] {
  const spec = obj.spec ?? {};
  const containers = [...(spec.containers ?? []), ...(spec.container ? [spec.container] : [])];
  const names = containers.flatMap((c: any) => (c?.env ?? []).map((e: any) => e?.valueFrom?.secretKeyRef?.name).filter((n: unknown): n is string => typeof n === 'string'));
  if (typeof spec.credentialsSecretRef?.name === 'string') names.push(spec.credentialsSecretRef.name);
  return names;
}

async function readSecretValues(clients: KubeClients, ns: string, objects: AnyObject[], uids: Set<string>, notes: string[]): Promise<{ values: string[]; read: number }> {
  const wanted = new Map<string, string>(); // secret name -> who references it
  for (const o of objects) for (const s of referencedSecrets(o)) if (!wanted.has(s)) wanted.set(s, `${o.kind} ${o.metadata?.name}`);
  const secrets: Array<{ data?: Record<string, string> }> = [];
  for (const [name, by] of [...wanted].sort(([a], [b]) => (a < b ? -1 : 1))) {
    try {
      secrets.push(await clients.request({ method: 'GET', path: SECRETS.apiPath(ns, name) }));
    } catch (err) {
      if (isNotFound(err)) {
        notes.push(`Secret ${name} (referenced by ${by}) does not exist`);
        continue;
      }
      throw new ExportRefused(`cannot read Secret ${name} (referenced by ${by}): ${describeError(err)}; its values are needed to keep them out of the bundle (grant get on secrets in ${ns}, or let the controller export with an AgentMachineDiagnosticBundle)`);
    }
  }
  // Secrets the scoped objects own (gateway tokens, Pod env Secrets): best effort, they match
  // formats the redactor knows anyway.
  try {
    for (const s of await list<AnyObject & { data?: Record<string, string> }>(clients, SECRETS.apiPath(ns))) {
      if (wanted.has(s.metadata?.name ?? '')) continue;
      if (s.metadata?.ownerReferences?.some((o) => uids.has(o.uid))) secrets.push(s);
    }
  } catch (err) {
    const code = statusCodeOf(err);
    if (code !== 403 && code !== 401) throw err;
    notes.push(`Secrets owned by the scoped objects were not listed (${describeError(err)}); their values are only caught by format`);
  }
  const values = new Set<string>();
  for (const s of secrets) {
    for (const encoded of Object.values(s.data ?? {})) {
      if (typeof encoded !== 'string') continue;
      const raw = Buffer.from(encoded, 'base64');
      const decoded = raw.toString('utf8');
      if (decoded !== '') values.add(decoded);
      // Binary data (a keystore) does not survive as UTF-8: its base64 is what may show up.
      if (!Buffer.from(decoded, 'utf8').equals(raw)) values.add(raw.toString('base64'));
      // A value with line breaks (a file) also shows up line by line, e.g. in a log.
      for (const line of decoded.split(/\r?\n/)) if (line.trim().length >= 8 && line !== decoded) values.add(line.trim());
    }
  }
  return { values: [...values], read: secrets.length };
}

async function readAudit(source: AuditSource, ns: string, objects: AnyObject[], uids: Set<string>, inWindow: (t: number | undefined) => boolean): Promise<string[]> {
  const names = new Set(objects.map((o) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`));
  const out: string[] = [];
  for await (const line of auditLines(source)) {
    let entry: { at?: string; object?: { kind?: string; namespace?: string; name?: string; uid?: string } };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // a line being written right now
    }
    const o = entry.object;
    if (!o) continue;
    const about = o.uid ? uids.has(o.uid) : names.has(`${o.kind}/${o.namespace ?? ''}/${o.name}`);
    if (!about || (o.namespace !== undefined && o.namespace !== ns && o.kind !== 'AgentMachineProfile')) continue;
    if (!inWindow(entry.at ? Date.parse(entry.at) : undefined)) continue;
    out.push(`${line}\n`);
  }
  return out;
}

async function list<T>(clients: KubeClients, path: string): Promise<T[]> {
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const page = await clients.request<{ items?: T[]; metadata?: { continue?: string } }>({ method: 'GET', path, query: { limit: 500, continue: cont }, signal: AbortSignal.timeout(60_000) });
    items.push(...(page.items ?? []));
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return items;
}

function overlaps(created: unknown, finished: unknown, since: number | undefined, until: number | undefined, now: Date): boolean {
  const start = toMs(created) ?? 0;
  const end = toMs(finished) ?? now.getTime();
  return (until === undefined || start <= until) && (since === undefined || end >= since);
}

function toMs(t: unknown): number | undefined {
  if (t instanceof Date) return t.getTime();
  if (typeof t !== 'string') return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

function eventTime(e: any): number | undefined {
  return toMs(e?.series?.lastObservedTime) ?? toMs(e?.eventTime) ?? toMs(e?.deprecatedLastTimestamp) ?? toMs(e?.metadata?.creationTimestamp);
}
