// Where the project's own files are, and the scripts that install what it needs. The dev
// environment runs from a clone (make run), so paths are resolved from this file's location.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MANIFESTS_DIR = path.join(PROJECT_ROOT, 'manifests');

/** Runs one of scripts/*.sh and returns what it prints (a path); its progress goes to stderr. */
export function runProjectScript(name: string): string {
  return execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', name)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** kubectl on PATH, else the one scripts/control-plane-binaries.sh built next to kube-apiserver. */
export function kubectlBinary(controlPlaneBinDir?: string): string {
  const local = controlPlaneBinDir ? path.join(controlPlaneBinDir, 'kubectl') : undefined;
  const onPath = (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(path.join(dir, 'kubectl')));
  if (onPath || !local || !existsSync(local)) return 'kubectl';
  return local;
}
