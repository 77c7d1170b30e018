// Reading, merge-patching and waiting on one agent-machine object as the kubeconfig's user:
// the I/O half of `cancel` and `revoke` (lifecycle.ts decides). Errors come back as one line
// that names the object and, for 403s, says that the user lacks the right.
import { GROUP, type KindName } from '../api/group.ts';
import { RESOURCES } from '../api/resources.ts';
import { describeError, isNotFound, statusCodeOf, type KubeClients } from '../operator/kube-clients.ts';
import { PatchStrategy } from '@kubernetes/client-node';
import { parseObjectRef, type ObjectRef } from './commands/contract.ts';

/** A usage or API problem, printed as one line without a stack trace. */
export class CliError extends Error {}

/**
 * The object a command acts on: any form kubectl prints or accepts (see `contract --help`),
 * or a bare NAME, which means `defaultKind`. Only `kinds` are accepted.
 */
export function resolveTarget(ref: string, name: string | undefined, kinds: readonly KindName[], defaultKind: KindName): ObjectRef {
  const target = name === undefined && !ref.includes('/') ? { kind: defaultKind, name: ref } : parseObjectRef(ref, name);
  if (!kinds.includes(target.kind)) {
    throw new CliError(`${target.kind} ${target.name}: this command works on ${kinds.join(' and ')} only`);
  }
  return target;
}

/** `kubectl get -o name` style: localagentexecution.agentmachine.sourceos.dev/NAME */
export function displayName(target: ObjectRef): string {
  return `${target.kind.toLowerCase()}.${GROUP}/${target.name}`;
}

function where(target: ObjectRef, namespace: string): string {
  return `${RESOURCES[target.kind].plural}.${GROUP} ${JSON.stringify(target.name)}${RESOURCES[target.kind].namespaced ? ` in namespace ${JSON.stringify(namespace)}` : ''}`;
}

function apiError(verb: string, target: ObjectRef, namespace: string, err: unknown): CliError {
  if (isNotFound(err)) return new CliError(`${where(target, namespace)} not found`);
  if (statusCodeOf(err) === 403) return new CliError(`you may not ${verb} ${where(target, namespace)}: ${describeError(err)}`);
  return new CliError(`cannot ${verb} ${where(target, namespace)}: ${describeError(err)}`);
}

export async function getTarget<T>(clients: KubeClients, target: ObjectRef, namespace: string): Promise<T> {
  const r = RESOURCES[target.kind];
  try {
    return await clients.request<T>({ method: 'GET', path: r.apiPath(r.namespaced ? namespace : undefined, target.name), signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw apiError('get', target, namespace, err);
  }
}

/** A JSON merge patch of the spec, sent as the kubeconfig's user (admission and RBAC see them). */
export async function mergePatch<T>(clients: KubeClients, target: ObjectRef, namespace: string, patch: object): Promise<T> {
  const r = RESOURCES[target.kind];
  try {
    return await clients.request<T>({
      method: 'PATCH',
      path: r.apiPath(r.namespaced ? namespace : undefined, target.name),
      body: patch,
      contentType: PatchStrategy.MergePatch,
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw apiError('patch', target, namespace, err);
  }
}

/** Polls until `settled` holds; undefined when timeoutSeconds pass first. */
export async function waitFor<T>(read: () => Promise<T>, settled: (obj: T) => boolean, timeoutSeconds: number, intervalMs = 250): Promise<T | undefined> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const obj = await read();
    if (settled(obj)) return obj;
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
