#!/usr/bin/env node
// Launcher: agent-machine is TypeScript run by Node's type stripping (Node >= 22.18). When the
// node on PATH is older, re-run under the Node that scripts/ensure-node.sh provides (cached
// outside the clone), so `npx agent-machine` works on a machine that ships an old Node.
import { spawnSync, execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 18)) {
  // The controller's heap must be sized before V8 starts, so it re-executes itself with the
  // flags (same PID: signals and exit codes are unchanged): see src/controller/heap-policy.ts.
  const { heapFlags, runsController } = await import('../src/controller/heap-policy.ts');
  if (runsController(process.argv) && typeof process.execve === 'function') {
    const flags = heapFlags({ nodeOptions: process.env.NODE_OPTIONS, execArgv: process.execArgv, constrainedMemory: process.constrainedMemory(), totalMemory: os.totalmem() });
    if (flags.length > 0) process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], process.env);
  }
  await import('../src/cli/main.ts');
} else {
  const script = fileURLToPath(new URL('../scripts/ensure-node.sh', import.meta.url));
  const nodeDir = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const result = spawnSync(`${nodeDir}/node`, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
