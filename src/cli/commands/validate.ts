import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CelSandbox } from '../../governance/cel-sandbox.ts';
import { checkDocuments, type CheckSummary, type SourceDocument } from '../validate/offline-check.ts';
import { parseYamlDocuments } from '../validate/yaml-documents.ts';

/** YAML files under a path (a file, or a folder searched recursively), sorted for stable output. */
export function yamlFilesUnder(target: string): string[] {
  if (!statSync(target).isDirectory()) return [target];
  return readdirSync(target, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(target, f))
    .sort();
}

const HELP = `
Checks, with no cluster:
  1. the schema in contracts/ (types, required fields, patterns, enums, unknown fields), as
     kubectl apply --validate=strict and the API server would;
  2. the CRDs' x-kubernetes-validations CEL rules (e.g. "a multi_corporate_firewall profile
     lists its tenants", "revocationReason is required when revoked is true") and list
     uniqueness (x-kubernetes-list-type set/map);
  3. metadata.name as the API server checks it;
  4. AgentMachineProfiles: every spec.rules CEL expression compiles, type-checks as bool and
     passes the static limits (otherwise the profile becomes Invalid);
  5. objects whose profile is among the files: their budget against the profile's ceilings
     and their policy gates (the profile type's built-in rules and its CEL rules), as the
     controller will judge them. Objects whose profile is only in the cluster skip this step,
     with a warning (not an error) naming the nearest profile name among the files;
  6. delegations already expired (spec.authority.expiresAt in the past): an error, the
     controller would deny the object (a revoked grant is exempt).

Not checked offline:
  - transition rules, the CEL rules that read oldSelf ("a cancelled execution cannot be
    resumed", "a revoked grant cannot be un-revoked", "tool is immutable", "connector is
    immutable", "container is immutable"): they compare an update with the stored object, which a file does not have;
    the summary counts how many applied;
  - everything that needs the cluster: the admission policy (spec.authority.delegator must be
    the user who applies the object), RBAC, references to objects not in the files.

YAML is read as kubectl reads it (YAML 1.1, timestamps kept as strings); multi-document files,
v1 Lists and folders (recursively, *.yaml and *.yml) are accepted. Documents of other API
groups (Namespaces, RBAC, kustomization files) are skipped and counted.

Prints one line per problem, FILE:LINE: KIND/NAME: MESSAGE (LINE is the offending field's, or
the nearest enclosing one's), then warnings (FILE:LINE: KIND/NAME: warning: MESSAGE), then a
summary. Exits 0 when everything is valid (warnings do not fail it), 1 otherwise.

Example:
  agent-machine validate -f examples/ -f gitops/agents.yaml`;

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .summary('Check YAML files offline: schema, CRD CEL rules, profiles (GitOps CI)')
    .description('Check agent-machine YAML offline against the contracts, the CRDs\' CEL rules and the profiles (for GitOps CI). Exits 1 on any error.')
    .requiredOption('-f, --filename <path...>', 'files or folders (searched recursively for *.yaml, *.yml)')
    .addHelpText('after', HELP)
    .action((opts: { filename: string[] }) => {
      process.exitCode = runValidate(opts.filename);
    });
}

/** Runs the check and prints it; returns the exit code. */
export function runValidate(targets: readonly string[], out: (line: string) => void = (l) => console.log(l), err: (line: string) => void = (l) => console.error(l)): number {
  const sources: SourceDocument[] = [];
  let unreadable = 0;
  let files = 0;
  for (const target of targets) {
    let list: string[];
    try {
      list = yamlFilesUnder(target);
    } catch (e) {
      unreadable++;
      err(`${target}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
      continue;
    }
    for (const file of list) {
      files++;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        unreadable++;
        err(`${file}: ${(e as Error).message}`);
        continue;
      }
      for (const doc of parseYamlDocuments(text)) sources.push({ file, doc });
    }
  }
  const sandbox = new CelSandbox();
  let summary: CheckSummary;
  try {
    summary = checkDocuments(sources, sandbox);
  } finally {
    sandbox.close();
  }
  for (const f of summary.findings) err(`${f.file}:${f.line}: ${f.ref}: ${f.message}`);
  for (const w of summary.warnings) err(`${w.file}:${w.line}: ${w.ref}: warning: ${w.message}`);
  for (const rule of summary.uncheckableRules) err(`warning: a CRD rule could not be compiled offline and was not checked: ${rule}`);
  out(summaryLine(summary, files, unreadable));
  return summary.findings.length > 0 || unreadable > 0 ? 1 : 0;
}

function summaryLine(s: CheckSummary, files: number, unreadable: number): string {
  const parts = [
    `${files} file(s), ${s.objects} object(s) checked: ${s.objects - s.invalidObjects} valid, ${s.invalidObjects} invalid, ${s.findings.length + unreadable} error(s)`,
  ];
  if (s.warnings.length) parts.push(`${s.warnings.length} warning(s)`);
  if (s.skipped) parts.push(`${s.skipped} document(s) of other API groups skipped`);
  if (s.skippedTransitionRules) parts.push(`${s.skippedTransitionRules} transition rule check(s) (oldSelf) need the cluster`);
  return parts.join('; ');
}
