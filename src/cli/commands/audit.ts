import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { API_VERSION } from '../../api/group.ts';
import { exportEntries, toOcsf, type AuditFilter } from '../../governance/audit-export.ts';
import { GENESIS_HASH, verifyAuditLog, type AuditHead } from '../../governance/audit-log.ts';
import { auditLines, describeSource, type AuditSource } from '../../governance/audit-source.ts';
import { verifyStored } from '../../governance/cluster-audit-store.ts';
import { createKubeClients, describeError } from '../../operator/kube-clients.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { defaultAuditLogPath } from './controller.ts';

interface SourceOptions {
  file: string;
  cluster?: boolean;
  namespace: string;
  kubeconfig?: string;
}

/** --file, or --cluster with --namespace and --kubeconfig: where the chain is read from. */
function withSource(cmd: Command): Command {
  return cmd
    .option('--file <path>', "the audit log, as the controller's --audit-log ($AGENT_MACHINE_AUDIT_LOG sets the default)", defaultAuditLogPath())
    .option('--cluster', 'read the chain the controller keeps in the API server (--audit-store cluster) instead of a file')
    .option('--namespace <namespace>', "the controller's namespace, where --cluster finds the segments", 'agent-machine-system')
    .option('--kubeconfig <path>', 'kubeconfig for --cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster)');
}

function sourceOf(opts: SourceOptions): AuditSource {
  return opts.cluster ? { kind: 'cluster', clients: createKubeClients(loadKubeConfig(opts.kubeconfig)), namespace: opts.namespace } : { kind: 'file', path: opts.file };
}

function time(value: string): Date {
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw new InvalidArgumentError('expected a time such as 2026-12-07T10:00:00Z');
  return t;
}

export function registerAuditCommand(program: Command): void {
  const audit = program.command('audit').description('Work with the hash-chained audit log');
  withSource(
    audit
      .command('verify')
      .description('Check that no entry of the audit chain was edited, deleted, reordered, inserted or torn. Exits 1 when the chain is broken.'),
  )
    .addHelpText(
      'after',
      `
Every entry carries the hash of the one before it. Prints "<where>: chain intact, N entries",
or names the first entry that breaks the chain and why (edited, deleted, reordered, inserted,
or a torn last write): a line number for a file, a sequence number for the cluster store
(whose segments are immutable ConfigMaps; reading them needs list on configmaps there).

Examples:
  agent-machine audit verify --file ~/.local/state/agent-machine/audit.jsonl
  agent-machine audit verify --cluster --namespace agent-machine-system`,
    )
    .action(async (opts: SourceOptions) => {
      if (opts.cluster) {
        try {
          const v = await verifyStored(createKubeClients(loadKubeConfig(opts.kubeconfig)), opts.namespace);
          if (v.ok) {
            const cp = v.checkpoint ? ` (seq 1..${v.checkpoint.lastSeq} compacted into a checkpoint of ${v.checkpoint.at})` : '';
            console.log(`audit segments in ${opts.namespace}: chain intact, ${v.entries} entries${cp}`);
            return;
          }
          console.error(`audit segments in ${opts.namespace}: chain BROKEN at seq ${v.firstBadSeq ?? '?'}: ${v.problem ?? 'unknown problem'} (${v.entries} entries verified before it)`);
        } catch (err) {
          console.error(`agent-machine audit verify: ${describeError(err)}`);
        }
        process.exitCode = 1;
        return;
      }
      const result = await verifyAuditLog(opts.file);
      if (result.ok) {
        console.log(`${opts.file}: chain intact, ${result.entries} entries`);
        return;
      }
      console.error(`${opts.file}: chain BROKEN at line ${result.firstBadLine ?? '?'}: ${result.problem ?? 'unknown problem'} (${result.entries} entries verified before it)`);
      process.exitCode = 1;
    });

  withSource(
    audit
      .command('export')
      .description('Write the audit entries (verified as they are read) as JSON lines or OCSF API Activity events, filtered by execution, delegator and time. Exits 1 on a broken chain.')
      .addOption(new Option('--format <format>', 'jsonl: the entries as stored; ocsf: OCSF 1.x API Activity (class 6003) events, one JSON object per line').choices(['jsonl', 'ocsf']).default('jsonl'))
      .option('--execution <name>', "only this LocalAgentExecution's entries (and its container records')")
      .option('--in <namespace>', 'only entries about objects in this namespace')
      .option('--delegator <user>', 'only entries whose actor (the delegator) is this user')
      .option('--since <time>', 'only entries at or after this time (RFC 3339)', time)
      .option('--until <time>', 'only entries before this time (RFC 3339)', time),
  )
    .addHelpText(
      'after',
      `
Reads the whole chain in order and checks every entry's hash and link while writing the ones
that match; on the first entry that breaks the chain it stops, names its sequence number on
stderr and exits 1 (what was written before it verified). OCSF events keep what OCSF has no
field for (seq, hashes, delegate, decisions, egress batches) under "unmapped". Entries never
hold prompt text, tokens or credentials.

Examples:
  agent-machine audit export --cluster --execution issue-triage --in default > triage.jsonl
  agent-machine audit export --file audit.jsonl --format ocsf --since 2026-12-01T00:00:00Z | your-siem-shipper`,
    )
    .action(async (opts: SourceOptions & { format: 'jsonl' | 'ocsf'; execution?: string; in?: string; delegator?: string; since?: Date; until?: Date }) => {
      const filter: AuditFilter = {
        ...(opts.execution ? { execution: opts.execution } : {}),
        ...(opts.in ? { namespace: opts.in } : {}),
        ...(opts.delegator ? { delegator: opts.delegator } : {}),
        ...(opts.since ? { since: opts.since } : {}),
        ...(opts.until ? { until: opts.until } : {}),
      };
      const source = sourceOf(opts);
      try {
        let start: AuditHead = { seq: 0, hash: GENESIS_HASH };
        const lines = auditLines(source, (head) => (start = head));
        const result = await exportEntries(lines, filter, (e) => process.stdout.write(`${JSON.stringify(opts.format === 'ocsf' ? toOcsf(e, API_VERSION) : e)}\n`), () => start);
        if (!result.ok) {
          console.error(`${describeSource(source)}: chain BROKEN at seq ${result.firstBadSeq}: ${result.problem} (${result.read} entries verified, ${result.written} written before it)`);
          process.exitCode = 1;
          return;
        }
        console.error(`${describeSource(source)}: ${result.written} of ${result.read} entries written, chain intact`);
      } catch (err) {
        console.error(`agent-machine audit export: ${describeError(err)}`);
        process.exitCode = 1;
      }
    });
}
