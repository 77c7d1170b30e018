// The `agent-machine` command tree, built without running it (main.ts runs it; tests walk it).
// Each subcommand lives in its own file under commands/.
import { Command } from 'commander';
import { registerArtifactsCommand } from './commands/artifacts.ts';
import { registerAuditCommand } from './commands/audit.ts';
import { registerCancelCommand } from './commands/cancel.ts';
import { registerContractCommand } from './commands/contract.ts';
import { registerControllerCommand } from './commands/controller.ts';
import { registerCrdsCommand } from './commands/crds.ts';
import { registerDevCommand } from './commands/dev.ts';
import { registerDiagnosticsCommand } from './commands/diagnostics.ts';
import { registerLogsCommand } from './commands/logs.ts';
import { registerRevokeCommand } from './commands/revoke.ts';
import { registerValidateCommand } from './commands/validate.ts';

const HELP = `
Every command has --help. The object commands (cancel, revoke, contract, diagnostics) act as
the user of your kubeconfig: the admission policy and RBAC see you, not the controller.

Also a kubectl plugin: with bin/ on PATH (npm links kubectl-agent_machine), run
  kubectl agent-machine cancel hello-agent --wait`;

export function buildProgram(name = 'agent-machine'): Command {
  const program = new Command(name)
    .description(
      'A Kubernetes controller that runs AI agents, their tools, containers and model providers only ' +
        'under an explicit delegation, scope, budget, policy profile and audit trail.',
    )
    .showHelpAfterError()
    .enablePositionalOptions()
    .addHelpText('after', HELP);

  registerAuditCommand(program);
  registerArtifactsCommand(program);
  registerCancelCommand(program);
  registerContractCommand(program);
  registerControllerCommand(program);
  registerCrdsCommand(program);
  registerDevCommand(program);
  registerDiagnosticsCommand(program);
  registerLogsCommand(program);
  registerRevokeCommand(program);
  registerValidateCommand(program);
  return program;
}
