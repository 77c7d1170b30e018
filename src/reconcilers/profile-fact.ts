// "Is the profile this object lives under usable?" — asked by every reconciler before acting.
import type { AgentMachineProfile } from '../api/types.generated.ts';
import { isTrue } from '../operator/conditions.ts';
import type { ProfileFact } from './tool-grant-state.ts';

export function profileFact(profile: AgentMachineProfile | undefined, name: string): ProfileFact {
  if (!profile) return { found: false, ready: false, message: `profile ${name} not found: everything under it fails closed` };
  if (!isTrue(profile.status?.conditions, 'Ready') || profile.status?.observedGeneration !== profile.metadata.generation) {
    return { found: true, ready: false, message: `profile ${name} is not Ready (${profile.status?.phase ?? 'not yet reconciled'})` };
  }
  return { found: true, ready: true, message: `profile ${name} is Ready` };
}
