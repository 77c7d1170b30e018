// Installs agent-machine's API (CRDs, admission policy) into the shared test control plane, the
// way a user does: kubectl apply. Idempotent, so every test file can call it.
import { fileURLToPath } from 'node:url';
import { kubectl } from './integration-env.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

export async function installApi(): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-k', `${root}manifests`]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=agent-machine']);
  // kubectl caches discovery per server; api-resources refreshes it so the new kinds and the
  // agent-machine category are seen by the next commands (a user hits the same after install).
  await kubectl(['api-resources', '-o', 'name']);
}

/** Lets a test user create and edit agent-machine objects (RBAC only: no delegation rights). */
export async function grantEditorRole(user: string): Promise<void> {
  const manifest = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'agent-machine-test-editor' },
        rules: [{ apiGroups: ['agentmachine.sourceos.dev'], resources: ['*'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `agent-machine-test-editor-${user}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'agent-machine-test-editor' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    ],
  };
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(manifest) });
}

/** Takes back grantEditorRole. */
export async function revokeEditorRole(user: string): Promise<void> {
  await kubectl(['delete', 'clusterrolebinding', `agent-machine-test-editor-${user}`, '--ignore-not-found']);
}

/** Binds the agent-machine-delegator ClusterRole (manifests/rbac) to a test user: may use profiles, grant tools, ... */
export async function bindDelegatorRole(user: string): Promise<void> {
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `agent-machine-delegator-${user}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'agent-machine-delegator' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  };
  await kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(binding) });
}
