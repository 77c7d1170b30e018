// `agent-machine diagnostics export`: the same redacted bundle the controller builds for an
// AgentMachineDiagnosticBundle, gathered with the caller's own credentials and written to a
// file or stdout; the redaction report goes to stderr. `diagnostics fetch` puts an in-cluster
// bundle's ConfigMaps back together.
import { writeFileSync, renameSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createKubeClients, describeError, type KubeClients } from '../../operator/kube-clients.ts';
import { GROUP } from '../../api/group.ts';
import { RESOURCES } from '../../api/resources.ts';
import type { AgentMachineDiagnosticBundle } from '../../api/types.generated.ts';
import { DEFAULT_INCLUDE, type BundleInclude } from '../../diagnostics/bundle.ts';
import { listBundleConfigMaps, reassemble } from '../../diagnostics/config-maps.ts';
import { exportBundle, formatReport } from '../../diagnostics/export.ts';
import { recordRuntimes } from '../../diagnostics/gather.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { contextNamespace } from './contract.ts';
import { getCondition } from '../../operator/conditions.ts';

class DiagnosticsError extends Error {}

/** RFC 3339, or a duration back from now: 90s, 30m, 2h, 7d (as kubectl logs --since). */
export function parseTime(value: string, now = new Date()): string {
  const d = /^(\d+)(s|m|h|d)$/.exec(value);
  if (d) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[d[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(d[1]) * unit).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value))) return new Date(Date.parse(value)).toISOString();
  throw new InvalidArgumentError('expected an RFC 3339 time (2025-01-02T03:04:05Z) or a duration (30m, 2h, 7d)');
}

interface ExportCliOptions {
  namespace?: string;
  execution: string[];
  since?: string;
  until?: string;
  output?: string;
  kubeconfig?: string;
  auditLog?: string;
  metricsUrl?: string;
  exclude: string[];
}

const PARTS = Object.keys(DEFAULT_INCLUDE) as Array<keyof BundleInclude>;

export function registerDiagnosticsCommand(program: Command): void {
  const diagnostics = program.command('diagnostics').description('Redacted diagnostics bundles to attach to a bug report');
  diagnostics
    .command('export')
    .description('Write a redacted diagnostics bundle (gzip\'d tar) of a namespace\'s executions, gathered with your own credentials')
    .option('-n, --namespace <namespace>', 'namespace (default: the kubeconfig context namespace, else default)')
    .option('--execution <name...>', 'only these LocalAgentExecutions (default: all in the namespace and time window)', [])
    .option('--since <time>', 'only what happened after this RFC 3339 time or duration ago (30m, 2h)', (v) => parseTime(v))
    .option('--until <time>', 'only what happened before this RFC 3339 time or duration ago', (v) => parseTime(v))
    .option('-o, --output <file>', 'write the bundle here (default: stdout, unless it is a terminal)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--audit-log <path>', "the controller's audit log to take audit.jsonl from")
    .option('--metrics-url <url>', 'a /metrics URL to snapshot into metrics.txt')
    .option('--exclude <part...>', `leave parts out: ${PARTS.join(', ')}`, [])
    .addHelpText(
      'after',
      `
Everything is redacted before it is written: the values of every Secret the bundled objects
reference (so you need get on those Secrets), tokens, keys and passwords in known formats, and
prompt text (replaced by its sha256). The bundle is refused (exit 1, nothing written) if any
known secret value would remain. You need the export verb on agentmachinediagnosticbundles in
the namespace (ClusterRole agent-machine-delegator has it).`,
    )
    .action(async (opts: ExportCliOptions) => {
      try {
        await runExport(opts);
      } catch (err) {
        console.error(`agent-machine diagnostics export: ${err instanceof DiagnosticsError ? err.message : describeError(err)}`);
        process.exitCode = 1;
      }
    });

  diagnostics
    .command('fetch')
    .description("Reassemble an AgentMachineDiagnosticBundle's ConfigMaps into the bundle file, checking its digest")
    .argument('<bundle>', 'name of the AgentMachineDiagnosticBundle')
    .option('-n, --namespace <namespace>', 'namespace (default: the kubeconfig context namespace, else default)')
    .option('-o, --output <file>', 'write the bundle here (default: stdout, unless it is a terminal)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .addHelpText(
      'after',
      `
The controller stores a Ready bundle as ConfigMaps <bundle>-part-<n> owned by it; this puts them
back together and checks the result against status.digest before writing anything. You need get
on the bundle and list on ConfigMaps in its namespace. Exits 1 when the bundle is not Ready or a part
is missing or altered.

Example:
  agent-machine diagnostics fetch hello-agent-bundle -n default -o bundle.tar.gz`,
    )
    .action(async (name: string, opts: { namespace?: string; output?: string; kubeconfig?: string }) => {
      try {
        await runFetch(name, opts);
      } catch (err) {
        console.error(`agent-machine diagnostics fetch: ${err instanceof DiagnosticsError ? err.message : describeError(err)}`);
        process.exitCode = 1;
      }
    });
}

async function runExport(opts: ExportCliOptions): Promise<void> {
  const unknown = opts.exclude.filter((p) => !PARTS.includes(p as keyof BundleInclude));
  if (unknown.length > 0) throw new DiagnosticsError(`--exclude: unknown part(s) ${unknown.join(', ')}; expected ${PARTS.join(', ')}`);
  if (opts.since && opts.until && Date.parse(opts.since) >= Date.parse(opts.until)) throw new DiagnosticsError('--since must be before --until');
  checkOutput(opts.output);
  const kubeConfig = loadKubeConfig(opts.kubeconfig);
  const clients = createKubeClients(kubeConfig);
  const namespace = opts.namespace ?? contextNamespace(kubeConfig);
  await requireExportPermission(clients, namespace);

  const include: BundleInclude = { ...DEFAULT_INCLUDE };
  for (const p of opts.exclude) include[p as keyof BundleInclude] = false;
  const metricsUrl = opts.metricsUrl;
  const result = await exportBundle({
    clients,
    via: 'cli',
    scope: { namespace, ...(opts.execution.length > 0 ? { executions: opts.execution } : {}), ...(opts.since ? { since: opts.since } : {}), ...(opts.until ? { until: opts.until } : {}) },
    include,
    now: new Date(),
    ...(opts.auditLog ? { audit: { kind: 'file' as const, path: opts.auditLog } } : {}),
    ...(metricsUrl ? { metrics: () => fetchMetrics(metricsUrl) } : {}),
    controller: () => ({ note: 'exported by the CLI: the controller configuration is not visible from here', cli: { node: process.version, platform: `${process.platform}/${process.arch}` } }),
    runtime: async (objects) => ({ note: 'as recorded in the ContainerExecutionRecords (the CLI does not reach the runtimes)', records: recordRuntimes(objects) }),
  });
  if (!result.ok) {
    console.error(`redaction: ${formatReport(result.report)}`);
    throw new DiagnosticsError(`${result.reason}: ${result.message}`);
  }
  writeOutput(opts.output, result.tarGz);
  for (const note of result.notes) console.error(`note: ${note}`);
  console.error(`redaction: ${formatReport(result.report)}`);
  console.error(`bundle: ${result.files.length + 1} files, ${result.sizeBytes} bytes, ${result.digest}${opts.output ? ` -> ${opts.output}` : ''}`);
}

async function runFetch(name: string, opts: { namespace?: string; output?: string; kubeconfig?: string }): Promise<void> {
  checkOutput(opts.output);
  const kubeConfig = loadKubeConfig(opts.kubeconfig);
  const clients = createKubeClients(kubeConfig);
  const namespace = opts.namespace ?? contextNamespace(kubeConfig);
  const bundle = await clients.request<AgentMachineDiagnosticBundle>({ method: 'GET', path: RESOURCES.AgentMachineDiagnosticBundle.apiPath(namespace, name) });
  if (bundle.status?.phase !== 'Ready' || !bundle.status.digest) {
    const ready = getCondition(bundle.status?.conditions, 'Ready');
    throw new DiagnosticsError(`bundle ${name} is ${bundle.status?.phase ?? 'not reconciled yet'}${ready ? ` (${ready.reason}: ${ready.message})` : ''}`);
  }
  const parts = await listBundleConfigMaps(clients, namespace, name);
  const mine = parts.filter((cm) => cm.metadata?.ownerReferences?.some((o) => o.uid === bundle.metadata.uid));
  const r = reassemble(mine, bundle.status.digest);
  if (!r.ok) throw new DiagnosticsError(`bundle ${name}: ${r.problem}`);
  writeOutput(opts.output, r.tarGz);
  console.error(`bundle: ${r.tarGz.length} bytes, ${r.digest}${opts.output ? ` -> ${opts.output}` : ''}`);
}

/** The caller's own right to export, asked with a SelfSubjectAccessReview. */
async function requireExportPermission(clients: KubeClients, namespace: string): Promise<void> {
  const review = await clients.authorization.createSelfSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: 'export', group: GROUP, resource: 'agentmachinediagnosticbundles', namespace } },
    },
  });
  if (review.status?.allowed !== true || review.status.denied === true) {
    throw new DiagnosticsError(`you may not export agentmachinediagnosticbundles in namespace ${JSON.stringify(namespace)} (${GROUP})${review.status?.reason ? `: ${review.status.reason}` : ''}`);
  }
}

function checkOutput(output: string | undefined): void {
  if (output === undefined && process.stdout.isTTY) throw new DiagnosticsError('refusing to write a gzip\'d tarball to a terminal: give -o FILE or redirect stdout');
}

/** All or nothing: a refused or failed export never leaves a partial file. */
function writeOutput(output: string | undefined, data: Buffer): void {
  if (output === undefined || output === '-') {
    process.stdout.write(data);
    return;
  }
  const tmp = path.join(path.dirname(output), `.${path.basename(output)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, output);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw err;
  }
}

async function fetchMetrics(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.text();
}
