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
  message: string;
}

export function profileFact(profile: AgentMachineProfile | undefined, name: string): ProfileFact {
  if (!profile) return { found: false, ready: false, message: `profile ${name} not found: everything under it fails closed` };
  if (!isTrue(profile.status?.conditions, 'Ready') || profile.status?.observedGeneration !== profile.metadata.generation) {
    return { found: true, ready: false, message: `profile ${name} is not Ready (${profile.status?.phase ?? 'not yet reconciled'})` };
  }
  return { found: true, ready: true, message: `profile ${name} is Ready` };
}
