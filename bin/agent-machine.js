#!/usr/bin/env node
// Launcher: agent-machine is TypeScript run by Node's type stripping (Node >= 22.18). When the
// node on PATH is older, re-run under the Node that scripts/ensure-node.sh provides (cached
// outside the clone), so `npx agent-machine` works on a machine that ships an old Node.
import { spawnSync, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major > 22 || (major === 22 && minor >= 18)) {
  await import('../src/cli/main.ts');
} else {
  const script = fileURLToPath(new URL('../scripts/ensure-node.sh', import.meta.url));
  const nodeDir = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const result = spawnSync(`${nodeDir}/node`, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
