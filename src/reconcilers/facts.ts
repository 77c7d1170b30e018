// Facts every governed reconciler (and the gateway) reads the same way: a condition's
// three-valued status, and "is the profile this object lives under usable?", asked before
// anything under a profile acts.
import type { AgentMachineProfile } from '../api/types.generated.ts';
import { isTrue } from '../operator/conditions.ts';

/** A condition status: decided either way, or not evaluated (an earlier gate decided). */
export type Tri = 'True' | 'False' | 'Unknown';

export interface ProfileFact {
  found: boolean;
  ready: boolean;
  /**
   * The profile's controller has decided its current generation (Ready or Invalid). Until
   * then, what lives under it waits (Pending) rather than fails: GitOps and `kubectl apply -R`
   * create objects in any order, and a health check must not see the first sync as a failure.
   */
  settled: boolean;
  message: string;
}

export function profileFact(profile: AgentMachineProfile | undefined, name: string): ProfileFact {
  if (!profile) return { found: false, ready: false, settled: false, message: `profile ${name} not found: everything under it fails closed` };
  const current = profile.status?.observedGeneration === profile.metadata.generation;
  if (!isTrue(profile.status?.conditions, 'Ready') || !current) {
    const phase = current ? profile.status?.phase : undefined;
    return { found: true, ready: false, settled: phase === 'Invalid', message: `profile ${name} is not Ready (${phase ?? 'not yet reconciled'})` };
  }
  return { found: true, ready: true, settled: true, message: `profile ${name} is Ready` };
}
