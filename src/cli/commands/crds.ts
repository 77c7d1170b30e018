import type { Command } from 'commander';
import { buildAllCrds } from '../../codegen/crds.ts';

export function registerCrdsCommand(program: Command): void {
  program
    .command('crds')
    .description('Print the CustomResourceDefinitions (generated from contracts/) as YAML, ready for kubectl apply -f -')
    .addHelpText(
      'after',
      `
The same CRDs as crds/ and manifests/ (both generated from contracts/ by make crds). They do not
include the admission policy; for a full install use kubectl apply -k manifests/.

Example:
  agent-machine crds | kubectl apply --server-side -f -`,
    )
    .action(() => {
      process.stdout.write(buildAllCrds().map((c) => c.yaml).join('---\n'));
    });
}
