// Resolves a container's environment, reading Secret values for valueFrom.secretKeyRef. The
// values are handed to the runtime only; the list of secret values is kept so the redactor
// can take them out of the log tail before it reaches status.
import type { ContainerSpec } from '../api/types.generated.ts';
import type { KubeClients } from '../operator/kube-clients.ts';
import { isNotFound } from '../operator/kube-clients.ts';

export interface ResolvedEnv {
  env: Record<string, string>;
  secretValues: string[];
}

export class MissingSecretError extends Error {
  override readonly name = 'MissingSecretError';
}

export async function resolveEnv(clients: KubeClients, namespace: string, container: ContainerSpec): Promise<ResolvedEnv> {
  const env: Record<string, string> = {};
  const secretValues: string[] = [];
  const cache = new Map<string, Record<string, string> | undefined>();
  for (const item of container.env ?? []) {
    if (item.value !== undefined) {
      env[item.name] = item.value;
      continue;
    }
    const ref = item.valueFrom!.secretKeyRef;
    if (!cache.has(ref.name)) {
      try {
        const secret = await clients.core.readNamespacedSecret({ name: ref.name, namespace });
        cache.set(ref.name, secret.data ?? {});
      } catch (err) {
        if (!isNotFound(err)) throw err;
        cache.set(ref.name, undefined);
      }
    }
    const data = cache.get(ref.name);
    const encoded = data?.[ref.key];
    if (encoded === undefined) throw new MissingSecretError(`env ${item.name}: secret ${ref.name} key ${ref.key} not found in namespace ${namespace}`);
    const value = Buffer.from(encoded, 'base64').toString('utf8');
    env[item.name] = value;
    if (value) secretValues.push(value);
  }
  return { env, secretValues };
}
