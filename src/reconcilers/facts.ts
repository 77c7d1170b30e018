// Facts every governed reconciler (and the gateway) reads the same way: a condition's
// three-valued status, and "is the profile this object lives under usable?", asked before
// anything under a profile acts.
import type { AgentMachineProfile } from '../api/types.generated.ts';
import type { Informer } from '../operator/informer.ts';
import { isTrue } from '../operator/conditions.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import { didYouMean } from './nearest-name.ts';

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
  /**
   * Being deleted, held by what runs under it (profile-in-use.ts): what already runs keeps
   * it, nothing new is admitted under it.
   */
  deleting?: boolean;
  message: string;
}

/** `knownNames`: the profiles there are, for a "did you mean …" when `name` is not among them. */
export function profileFact(profile: AgentMachineProfile | undefined, name: string, knownNames?: () => Iterable<string>): ProfileFact {
  if (!profile) return { found: false, ready: false, settled: false, deleting: false, message: `profile ${name} not found${knownNames ? didYouMean(name, knownNames()) : ''}: everything under it fails closed` };
  const deleting = isBeingDeleted(profile);
  const observed = profile.status?.observedGeneration;
  const generation = profile.metadata.generation;
  // The API server bumps a custom resource's generation when its deletion starts: that one
  // step is no new spec, and what runs under the profile keeps it (profile-in-use.ts).
  const current = observed === generation || (deleting && observed !== undefined && generation !== undefined && observed === generation - 1);
  if (!isTrue(profile.status?.conditions, 'Ready') || !current) {
    const phase = current ? profile.status?.phase : undefined;
    return { found: true, ready: false, settled: phase === 'Invalid', deleting, message: `profile ${name} is not Ready (${phase ?? 'not yet reconciled'})` };
  }
  if (deleting) return { found: true, ready: true, settled: true, deleting, message: `profile ${name} is being deleted: nothing new is admitted under it` };
  return { found: true, ready: true, settled: true, deleting, message: `profile ${name} is Ready` };
}

/** The names of the profiles in the cache, asked only when a profile is not found. */
export function profileNames(deps: { informers: { profiles: Informer<AgentMachineProfile> } }): () => string[] {
  return () => deps.informers.profiles.list().flatMap((p) => (p.metadata.name ? [p.metadata.name] : []));
}
