import type { Command } from 'commander';
import { verifyAuditLog } from '../../governance/audit-log.ts';
import { defaultAuditLogPath } from './controller.ts';

export function registerAuditCommand(program: Command): void {
  const audit = program.command('audit').description('Work with the hash-chained audit log');
  audit
    .command('verify')
    .description('Check that no line of the audit log was edited, deleted, reordered, inserted or torn. Exits 1 when the chain is broken.')
    .option('--file <path>', "the audit log, as the controller's --audit-log ($AGENT_MACHINE_AUDIT_LOG sets the default)", defaultAuditLogPath())
    .addHelpText(
      'after',
      `
Every line of the log (written by the controller's --audit-log) carries the hash of the line
before it. Prints "<file>: chain intact, N entries", or names the first line that breaks the
chain and why (edited, deleted, reordered, inserted, or a torn last write).

Example:
  agent-machine audit verify --file ~/.local/state/agent-machine/audit.jsonl`,
    )
    .action(async (opts: { file: string }) => {
      const result = await verifyAuditLog(opts.file);
      if (result.ok) {
        console.log(`${opts.file}: chain intact, ${result.entries} entries`);
        return;
      }
      console.error(`${opts.file}: chain BROKEN at line ${result.firstBadLine ?? '?'}: ${result.problem ?? 'unknown problem'} (${result.entries} entries verified before it)`);
      process.exitCode = 1;
    });
}
