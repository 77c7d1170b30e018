// `agent-machine revoke`: revokes a ToolGrantRecord for good by setting spec.revoked and
// spec.revocationReason, as the kubeconfig's user; optionally waits for state Revoked.
import type { Command } from 'commander';
import { createKubeClients, describeError } from '../../operator/kube-clients.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { DEFAULT_REVOCATION_REASON, describeOutcome, planRevoke, revokeSettled, type Revocable } from '../lifecycle.ts';
import { displayName, getTarget, mergePatch, resolveTarget, waitFor } from '../object-client.ts';
import { contextNamespace } from './contract.ts';
import { timeoutOption } from './cancel.ts';

const HELP = `
<grant> is a ToolGrantRecord name, or any form kubectl accepts for it:
  issue-triage-github   tgr/issue-triage-github   toolgrant/issue-triage-github
  toolgrantrecord.agentmachine.sourceos.dev/issue-triage-github   tgr issue-triage-github

Sets spec.revoked: true and spec.revocationReason with a JSON merge patch (the
agent_machine.tool_grant.revoke command), as the user of your kubeconfig: you need patch on the
grant (RBAC). The controller moves the grant to state Revoked and records the command in the
audit log; the gateway's tool decision endpoint denies the tool from the next call on.
A revocation cannot be undone (the CRD rejects un-revoking): create a new grant instead.
A grant that is already revoked is left alone (exit 0), its reason unchanged.

With --wait, waits until status.state is Revoked for this change and exits 1 if --timeout
passes first.

Examples:
  agent-machine revoke issue-triage-github -n default --reason "agent retired" --wait
  kubectl agent-machine revoke tgr/issue-triage-github --wait`;

export function registerRevokeCommand(program: Command): void {
  program
    .command('revoke')
    .summary('Revoke a ToolGrantRecord for good, optionally --wait for Revoked')
    .description('Revoke a ToolGrantRecord for good: set spec.revoked and its reason as you, optionally wait until it is Revoked')
    .argument('<grant>', 'NAME of a ToolGrantRecord, or KIND/NAME (tgr/x, or the output of kubectl get -o name)')
    .argument('[name]', 'grant name, when <grant> is only the kind')
    .option('-n, --namespace <namespace>', 'namespace of the grant (default: the kubeconfig context namespace, else default)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--reason <text>', `why, stored in spec.revocationReason (1-1024 characters; default "${DEFAULT_REVOCATION_REASON}")`)
    .option('--wait', 'wait until status.state is Revoked')
    .option('--timeout <duration>', 'how long --wait waits (90, 90s, 2m)', timeoutOption, 60)
    .addHelpText('after', HELP)
    .action(async (ref: string, name: string | undefined, opts: { namespace?: string; kubeconfig?: string; reason?: string; wait?: boolean; timeout: number }) => {
      try {
        process.exitCode = await runRevoke(ref, name, opts);
      } catch (err) {
        console.error(`agent-machine revoke: ${describeError(err)}`);
        process.exitCode = 1;
      }
    });
}

async function runRevoke(ref: string, name: string | undefined, opts: { namespace?: string; kubeconfig?: string; reason?: string; wait?: boolean; timeout: number }): Promise<number> {
  if (opts.reason !== undefined && (opts.reason.trim().length === 0 || opts.reason.length > 1024)) {
    throw new Error('--reason must be 1 to 1024 characters');
  }
  const target = resolveTarget(ref, name, ['ToolGrantRecord'], 'ToolGrantRecord');
  const kubeConfig = loadKubeConfig(opts.kubeconfig);
  const clients = createKubeClients(kubeConfig);
  const namespace = opts.namespace ?? contextNamespace(kubeConfig);
  const read = () => getTarget<Revocable>(clients, target, namespace);

  const current = await read();
  const plan = planRevoke(current, opts.reason);
  const generation = plan.patch ? (await mergePatch<Revocable>(clients, target, namespace, plan.patch)).metadata.generation : current.metadata.generation;
  console.log(`${displayName(target)} ${plan.note}`);
  if (!opts.wait) return 0;

  const done = await waitFor(read, (g) => revokeSettled(g, generation), opts.timeout);
  if (!done) {
    const now = await read();
    console.error(`agent-machine revoke: ${displayName(target)} still ${describeOutcome(now.status?.state ?? 'not reconciled', now.status?.conditions)} after ${opts.timeout} s (is the controller running?)`);
    return 1;
  }
  console.log(`${displayName(target)} ${describeOutcome(done.status?.state, done.status?.conditions)}`);
  return 0;
}
