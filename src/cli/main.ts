// The `agent-machine` command. Each subcommand lives in its own file under commands/.
import { Command } from 'commander';
import { registerAuditCommand } from './commands/audit.ts';
import { registerContractCommand } from './commands/contract.ts';
import { registerControllerCommand } from './commands/controller.ts';
import { registerCrdsCommand } from './commands/crds.ts';
import { registerDevCommand } from './commands/dev.ts';
import { registerDiagnosticsCommand } from './commands/diagnostics.ts';
import { registerValidateCommand } from './commands/validate.ts';

// `agent-machine crds | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('agent-machine')
  .description(
    'A Kubernetes controller that runs AI agents, their tools, containers and model providers only ' +
      'under an explicit delegation, scope, budget, policy profile and audit trail.',
  )
  .showHelpAfterError()
  .enablePositionalOptions();

registerAuditCommand(program);
registerContractCommand(program);
registerControllerCommand(program);
registerCrdsCommand(program);
registerDevCommand(program);
registerDiagnosticsCommand(program);
registerValidateCommand(program);

await program.parseAsync(process.argv);
