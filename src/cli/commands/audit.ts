import type { Command } from 'commander';
import { verifyAuditLog } from '../../governance/audit-log.ts';
import { listSegments, verifySegments } from '../../governance/cluster-audit-store.ts';
import { createKubeClients, describeError } from '../../operator/kube-clients.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { defaultAuditLogPath } from './controller.ts';

export function registerAuditCommand(program: Command): void {
  const audit = program.command('audit').description('Work with the hash-chained audit log');
  audit
    .command('verify')
    .description('Check that no entry of the audit chain was edited, deleted, reordered, inserted or torn. Exits 1 when the chain is broken.')
    .option('--file <path>', "the audit log, as the controller's --audit-log ($AGENT_MACHINE_AUDIT_LOG sets the default)", defaultAuditLogPath())
    .option('--cluster', "verify the chain the controller keeps in the API server (--audit-store cluster) instead of a file")
    .option('--namespace <namespace>', "the controller's namespace, where --cluster finds the segments", 'agent-machine-system')
    .option('--kubeconfig <path>', 'kubeconfig for --cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
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
    .action(async (opts: { file: string; cluster?: boolean; namespace: string; kubeconfig?: string }) => {
      if (opts.cluster) {
        try {
          const v = verifySegments(await listSegments(createKubeClients(loadKubeConfig(opts.kubeconfig)), opts.namespace));
          if (v.ok) {
            console.log(`audit segments in ${opts.namespace}: chain intact, ${v.entries} entries`);
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
}
