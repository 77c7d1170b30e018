// Every command and subcommand of the real CLI answers --help: exit 0, a usage line and its
// description. The command tree is read from the program itself, so a new command is covered
// without editing this file; the kubectl plugin shim is checked the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../../../src/cli/program.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/agent-machine.js');
const PLUGIN = path.join(ROOT, 'bin/kubectl-agent_machine');

function commandPaths(cmd: Command, prefix: string[] = []): Array<{ path: string[]; cmd: Command }> {
  return [{ path: prefix, cmd }, ...cmd.commands.flatMap((c) => commandPaths(c, [...prefix, c.name()]))];
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Help text is wrapped to the terminal width: compare words, not lines. */
const words = (text: string) => text.replace(/\s+/g, ' ').trim();

const all = commandPaths(buildProgram());

test('the CLI has the commands the README lists', () => {
  const names = all.map((c) => c.path.join(' '));
  for (const expected of ['controller', 'dev', 'crds', 'validate', 'contract', 'cancel', 'revoke', 'audit verify', 'diagnostics export', 'diagnostics fetch', 'logs']) {
    assert.ok(names.includes(expected), `no command ${expected}: ${names.join(', ')}`);
  }
});

// In-process: commander decides the exit code of --help, so exitOverride() hands it over instead
// of exiting; a dozen Node processes each loading the Kubernetes client would take far longer.
// The real binary is run below for the root and one leaf command.
async function helpInProcess(cmdPath: string[]): Promise<{ exitCode: number; out: string }> {
  const program = buildProgram();
  let out = '';
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: (s) => void (out += s), writeErr: (s) => void (out += s), getOutHelpWidth: () => 100 });
    c.commands.forEach(quiet);
  };
  quiet(program);
  try {
    await program.parseAsync(['node', 'agent-machine', ...cmdPath, '--help']);
  } catch (err) {
    const e = err as { exitCode?: number; code?: string };
    if (e.code !== 'commander.helpDisplayed' && e.code !== 'commander.help') throw err;
    return { exitCode: e.exitCode ?? -1, out };
  }
  return { exitCode: -1, out: `${out}\n(--help did not stop the command)` };
}

test('--help of every command and subcommand: exit 0, usage and description, every option and argument described', async () => {
  const failures: string[] = [];
  for (const { path: cmdPath, cmd } of all) {
    const label = ['agent-machine', ...cmdPath].join(' ');
    const description = cmd.description();
    if (description.length < 20) failures.push(`${label}: description too short: ${JSON.stringify(description)}`);
    const r = await helpInProcess(cmdPath);
    if (r.exitCode !== 0) failures.push(`${label} --help: exit code ${r.exitCode}: ${r.out}`);
    if (!r.out.startsWith(`Usage: ${label}`)) failures.push(`${label} --help: no usage line:\n${r.out}`);
    if (!words(r.out).includes(words(description))) failures.push(`${label} --help does not print its description`);
    for (const option of cmd.options) {
      if (!option.description || option.description.length < 8) failures.push(`${label} ${option.flags}: option without a useful description`);
    }
    for (const arg of cmd.registeredArguments) {
      if (!arg.description) failures.push(`${label} <${arg.name()}>: argument without a description`);
    }
  }
  assert.deepEqual(failures, []);
  assert.ok(all.length >= 13, `${all.length} commands`);
});

test('the real binary: agent-machine --help and cancel --help exit 0', async () => {
  const [root, cancel] = await Promise.all([run(process.execPath, [BIN, '--help']), run(process.execPath, [BIN, 'cancel', '--help'])]);
  assert.equal(root.code, 0, root.stderr);
  for (const { path: p } of all.filter((c) => c.path.length === 1)) assert.match(root.stdout, new RegExp(`^  ${p[0]} `, 'm'), `root help lists ${p[0]}`);
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.match(cancel.stdout, /^Usage: agent-machine cancel \[options\] <execution> \[name\]/);
  assert.match(cancel.stdout, /--wait/);
});

test('the kubectl plugin shim runs the same CLI under the name kubectl agent-machine', async () => {
  const r = await run(PLUGIN, ['revoke', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: kubectl agent-machine revoke \[options\] <grant> \[name\]/);
  const bad = await run(PLUGIN, ['no-such-command']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown command 'no-such-command'/);
});
