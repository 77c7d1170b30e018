// The `agent-machine` command: bin/agent-machine.js (and the kubectl plugin) run this.
import { buildProgram } from './program.ts';

// `agent-machine crds | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// bin/kubectl-agent_machine sets the name so usage lines read `kubectl agent-machine ...`.
await buildProgram(process.env.AGENT_MACHINE_PROGRAM_NAME || 'agent-machine').parseAsync(process.argv);
