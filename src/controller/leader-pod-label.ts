// Marks the replica that leads: its Pod gets the label agentmachine.sourceos.dev/leader=true,
// and the gateway Service selects on it. Only the leader's gateway answers (standbys say 503),
// so a Service over every replica would send part of the agents' calls to a standby.
//
// The label is removed when this process starts (a restarted replica is a standby until it
// wins the lease, and a leader that lost the lease exits and comes back without it) and on a
// graceful shutdown; a replica that dies without removing it is not Ready, so no endpoint.
// Runs only in a Pod (POD_NAME and POD_NAMESPACE from the downward API).
import type { Runnable } from '../operator/manager.ts';
import { describeError, isNotFound, MERGE_PATCH, type KubeClients } from '../operator/kube-clients.ts';
import type { Logger } from '../observability/logger.ts';

export const LEADER_LABEL = 'agentmachine.sourceos.dev/leader';

export interface PodRef {
  name: string;
  namespace: string;
}

export function podFromEnv(env: NodeJS.ProcessEnv = process.env): PodRef | undefined {
  return env.POD_NAME && env.POD_NAMESPACE ? { name: env.POD_NAME, namespace: env.POD_NAMESPACE } : undefined;
}

export async function setLeaderLabel(clients: KubeClients, pod: PodRef, leading: boolean, logger: Logger): Promise<void> {
  try {
    await clients.core.patchNamespacedPod({ name: pod.name, namespace: pod.namespace, body: { metadata: { labels: { [LEADER_LABEL]: leading ? 'true' : null } } } }, MERGE_PATCH);
  } catch (err) {
    if (isNotFound(err)) return;
    logger.warn({ pod: `${pod.namespace}/${pod.name}`, leading, err: describeError(err) }, 'could not update the leader label of this Pod; the gateway Service may route to the wrong replica');
  }
}

/** A Manager runnable: starts with the controllers (on the leader) and stops with them. */
export function leaderPodLabel(clients: KubeClients, pod: PodRef, logger: Logger): Runnable {
  return {
    name: 'leader-pod-label',
    start: () => void setLeaderLabel(clients, pod, true, logger),
    shutdown: async () => {
      await setLeaderLabel(clients, pod, false, logger);
      return true;
    },
  };
}
