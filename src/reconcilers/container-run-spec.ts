// What a runtime is asked to run for an admitted ContainerExecutionRecord: image, command,
// environment (Secrets resolved, the gateway's token and URL injected), limits from the
// effective budget, the profile's network (or the narrower one asked for), the workspace the policy checked, outputs.
import type { AgentMachineProfile, ContainerExecutionRecord } from '../api/types.generated.ts';
import type { FullBudget } from '../governance/budget.ts';
import { containerNetworkMode } from '../governance/profile-rules.ts';
import type { HostPathResolution } from '../governance/requests.ts';
import type { ContainerRunSpec } from '../runtimes/container-runtime.ts';
import type { ReconcilerDeps } from './deps.ts';
import { resolveEnv } from './container-env.ts';
import { limitsFor } from './container-state.ts';

export async function runSpecFor(deps: ReconcilerDeps, record: ContainerExecutionRecord, profile: AgentMachineProfile, effective: FullBudget, workspace: HostPathResolution | undefined): Promise<ContainerRunSpec> {
  const c = record.spec.container;
  const { env } = await resolveEnv(deps.clients, record.metadata.namespace!, c);
  const networkMode = containerNetworkMode(profile, record.spec.network?.mode);
  // The execution's gateway token and URL (OPENAI_BASE_URL, OPENAI_API_KEY, ...); they win over the spec's env.
  if (deps.gatewayEnv) Object.assign(env, await deps.gatewayEnv.envFor(record, { networkMode, runtime: record.spec.runtime ?? deps.defaultRuntime }));
  return {
    recordUid: record.metadata.uid!,
    recordNamespace: record.metadata.namespace!,
    recordName: record.metadata.name!,
    image: c.image,
    ...(c.command ? { command: c.command } : {}),
    ...(c.args ? { args: c.args } : {}),
    env,
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    limits: limitsFor(record, effective),
    network: {
      mode: networkMode,
      ...(profile.spec.network?.proxy ? { proxy: profile.spec.network.proxy } : {}),
      ...(profile.spec.network?.egressAllowlist ? { egressAllowlist: profile.spec.network.egressAllowlist } : {}),
    },
    // The path the policy checked after resolving symlinks, not the link: a link swapped since
    // cannot redirect the mount.
    ...(c.workspace
      ? { workspace: { hostPath: workspace && 'resolvedHostPath' in workspace ? workspace.resolvedHostPath : c.workspace.hostPath, mountPath: c.workspace.mountPath ?? '/workspace' } }
      : {}),
    outputs: (c.outputs ?? []).map((o) => ({ name: o.name, path: o.path })),
    deadlineSeconds: effective.wallClockSeconds,
  };
}
