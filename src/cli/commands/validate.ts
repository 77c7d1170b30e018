import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import yaml from 'js-yaml';
import { ContractValidator } from '../../api/validation.ts';

/** YAML files under a path (a file, or a folder searched recursively), sorted for stable output. */
export function yamlFilesUnder(target: string): string[] {
  if (!statSync(target).isDirectory()) return [target];
  return readdirSync(target, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(target, f))
    .sort();
}

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('Check agent-machine YAML offline against the contracts (for GitOps CI). Exits 1 on any error.')
    .requiredOption('-f, --filename <path...>', 'files or folders (searched recursively for *.yaml)')
    .action((opts: { filename: string[] }) => {
      const validator = new ContractValidator();
      let objects = 0;
      let failures = 0;
      for (const file of opts.filename.flatMap(yamlFilesUnder)) {
        let docs: unknown[];
        try {
          docs = yaml.loadAll(readFileSync(file, 'utf8')).filter((d) => d != null);
        } catch (err) {
          failures++;
          console.error(`${file}: ${(err as Error).message}`);
          continue;
        }
        for (const doc of docs) {
          objects++;
          const result = validator.validate(doc);
          for (const issue of result.issues) {
            failures++;
            console.error(`${file}: ${result.kind ?? 'object'} ${issue.path}: ${issue.message}`);
          }
        }
      }
      console.log(`${objects} object(s) checked, ${failures} problem(s)`);
      process.exitCode = failures ? 1 : 0;
    });
}
