import type { Command } from 'commander';
import { buildAllCrds } from '../../api/crds.ts';

export function registerCrdsCommand(program: Command): void {
  program
    .command('crds')
    .description('Print the CustomResourceDefinitions (generated from contracts/) as YAML, ready for kubectl apply -f -')
    .action(() => {
      process.stdout.write(buildAllCrds().map((c) => c.yaml).join('---\n'));
    });
}
