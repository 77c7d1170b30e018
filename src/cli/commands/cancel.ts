// `agent-machine cancel`: asks the controller to cancel an execution (or one container record)
// by setting spec.cancel, as the kubeconfig's user; optionally waits for the outcome.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { KindName } from '../../api/group.ts';
import { createKubeClients, describeError } from '../../operator/kube-clients.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { cancelSettled, describeOutcome, parseDuration, planCancel, type Cancellable } from '../lifecycle.ts';
import { displayName, getTarget, mergePatch, resolveTarget, waitFor } from '../object-client.ts';
import { contextNamespace } from './contract.ts';

const KINDS: readonly KindName[] = ['LocalAgentExecution', 'ContainerExecutionRecord'];

export function timeoutOption(value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined) throw new InvalidArgumentError('expected a duration: 90, 90s, 2m, 1h');
  return seconds;
}

const HELP = `
<execution> is a LocalAgentExecution name, or any form kubectl accepts for it or for a
ContainerExecutionRecord:
  hello-agent   lae/hello-agent   localagentexecution.agentmachine.sourceos.dev/hello-agent
  cer/hello-agent-agent   containerexecutionrecord/hello-agent-agent   lae hello-agent

Sets spec.cancel: true with a JSON merge patch (the agent_machine.execution.cancel command),
as the user of your kubeconfig: you need patch on the object (RBAC). The controller stops the
containers (SIGTERM, then SIGKILL 3 s later), records the command in the audit log and moves the
execution to phase Cancelled. A cancel cannot be undone. Cancelling a ContainerExecutionRecord
that belongs to an execution cancels that execution too.

An object that already finished is left alone (exit 0). There is no reason field for a cancel
in the API; the audit log records who asked.

With --wait, waits until the phase is terminal (Succeeded, Failed, Cancelled, Denied), prints it
with the Ready condition's reason, and exits 1 if --timeout passes first.

Examples:
  agent-machine cancel hello-agent -n default --wait
  kubectl agent-machine cancel lae/hello-agent --wait --timeout 2m`;

export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .summary('Cancel an execution (spec.cancel), optionally --wait for it to stop')
    .description('Cancel a LocalAgentExecution (or a ContainerExecutionRecord): set spec.cancel as you, optionally wait until it has stopped')
    .argument('<execution>', 'NAME of a LocalAgentExecution, or KIND/NAME (lae/x, cer/x, or the output of kubectl get -o name)')
    .argument('[name]', 'object name, when <execution> is only the kind')
    .option('-n, --namespace <namespace>', 'namespace of the object (default: the kubeconfig context namespace, else default)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--wait', 'wait until the phase is terminal and print it')
    .option('--timeout <duration>', 'how long --wait waits (90, 90s, 2m)', timeoutOption, 60)
    .addHelpText('after', HELP)
    .action(async (ref: string, name: string | undefined, opts: { namespace?: string; kubeconfig?: string; wait?: boolean; timeout: number }) => {
      try {
        process.exitCode = await runCancel(ref, name, opts);
      } catch (err) {
        console.error(`agent-machine cancel: ${describeError(err)}`);
        process.exitCode = 1;
      }
    });
}

async function runCancel(ref: string, name: string | undefined, opts: { namespace?: string; kubeconfig?: string; wait?: boolean; timeout: number }): Promise<number> {
  const target = resolveTarget(ref, name, KINDS, 'LocalAgentExecution');
  const kubeConfig = loadKubeConfig(opts.kubeconfig);
  const clients = createKubeClients(kubeConfig);
  const namespace = opts.namespace ?? contextNamespace(kubeConfig);
  const read = () => getTarget<Cancellable>(clients, target, namespace);

  const current = await read();
  const plan = planCancel(current);
  if (plan.patch) await mergePatch(clients, target, namespace, plan.patch);
  console.log(`${displayName(target)} ${plan.note}`);
  if (!opts.wait) return 0;

  const done = await waitFor(read, cancelSettled, opts.timeout);
  if (!done) {
    const now = await read();
    console.error(`agent-machine cancel: ${displayName(target)} still ${describeOutcome(now.status?.phase, now.status?.conditions)} after ${opts.timeout} s (is the controller running?)`);
    return 1;
  }
  console.log(`${displayName(target)} ${describeOutcome(done.status?.phase, done.status?.conditions)}`);
  return 0;
}
