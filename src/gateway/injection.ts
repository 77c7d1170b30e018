// How an execution's containers learn where the gateway is and which token to present: the
// container reconciler asks gatewayEnv() for extra environment when it builds a run spec.
//
//   OPENAI_BASE_URL        <gateway>/v1          (when the execution names a modelProviderRef)
//   OPENAI_API_KEY         the execution's token
//   ANTHROPIC_BASE_URL     <gateway>             (Anthropic bindings)
//   ANTHROPIC_API_KEY      the execution's token
//   AGENT_MACHINE_GATEWAY_URL / AGENT_MACHINE_GATEWAY_TOKEN   (always, for /v1/tools/authorize)
//   HTTP_PROXY / HTTPS_PROXY / http_proxy / https_proxy   http://agent:<token>@<gateway host:port>
//   NO_PROXY / no_proxy    the gateway's host (model and tool calls go to it directly)
//       (whenever the gateway is reachable: the egress proxy applies the network mode, and
//       answers 403 with a reason in none and gateway-only)
//
// Where the gateway is, as seen from inside a container, depends on the runtime and network:
//   docker, none/gateway-only/allowlist with a gateway network   http://agent-machine-gateway:PORT
//       (the runtime maps that name to the host's address on the internal network)
//   docker, open (podman's default bridge)                  http://host.containers.internal:PORT
//       (podman adds that name; Docker Engine does not, set an advertised URL there)
//   docker, any but open, without a gateway network          nothing reaches the gateway
//   kubernetes                                              only with an advertised URL
// An advertised URL (--gateway-advertise-url) overrides all of these.
//
// The controller process hands the container reconciler one source (startGateway's `env`,
// through ReconcilerDeps.gatewayEnv); without one (gateway disabled) nothing is added.
import type { ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding } from '../api/types.generated.ts';
import { isBeingDeleted } from '../operator/finalizers.ts';
import type { Informer } from '../operator/informer.ts';
import { isTerminalExecutionPhase } from '../reconcilers/execution-state.ts';
import type { NetworkMode } from '../runtimes/container-runtime.ts';
import { needsToken, type TokenStore } from './tokens.ts';

export const GATEWAY_HOST_ALIAS = 'agent-machine-gateway';
export const PODMAN_HOST_ALIAS = 'host.containers.internal';

export interface ContainerPlacement {
  networkMode: NetworkMode;
  runtime: 'docker' | 'kubernetes';
}

export interface GatewayEnvSource {
  /** Extra env for the record's container (may be empty). */
  envFor(record: ContainerExecutionRecord, placement: ContainerPlacement): Promise<Record<string, string>>;
}

/** The gateway's env for an execution's containers; gives nothing once closed (the gateway shut down). */
export class ExecutionGatewayEnv implements GatewayEnvSource {
  readonly #executions: Informer<LocalAgentExecution>;
  readonly #bindings: Informer<ModelProviderBinding>;
  readonly #tokens: TokenStore;
  readonly #addressing: GatewayAddressing;
  #closed = false;

  constructor(o: { executions: Informer<LocalAgentExecution>; bindings: Informer<ModelProviderBinding>; tokens: TokenStore; addressing: GatewayAddressing }) {
    this.#executions = o.executions;
    this.#bindings = o.bindings;
    this.#tokens = o.tokens;
    this.#addressing = o.addressing;
  }

  close(): void {
    this.#closed = true;
  }

  async envFor(record: ContainerExecutionRecord, placement: ContainerPlacement): Promise<Record<string, string>> {
    const ref = record.spec.executionRef;
    if (this.#closed || !ref) return {};
    const ex = this.#executions.get(`${record.metadata.namespace}/${ref.name}`);
    // Only the execution that owns the record: a record naming someone else's execution gets nothing.
    if (!ex || !needsToken(ex, placement.networkMode) || !record.metadata.ownerReferences?.some((o) => o.uid === ex.metadata.uid)) return {};
    if (isTerminalExecutionPhase(ex.status?.phase) || isBeingDeleted(ex)) return {};
    const token = await this.#tokens.ensure(ex);
    const binding = ex.spec.modelProviderRef ? this.#bindings.get(`${ex.metadata.namespace}/${ex.spec.modelProviderRef.name}`) : undefined;
    return gatewayEnvVars(gatewayRootUrl(this.#addressing, placement), token, { model: ex.spec.modelProviderRef !== undefined, anthropic: binding?.spec.provider === 'anthropic' });
  }
}

export interface GatewayAddressing {
  /** The port the gateway listens on. */
  port: number;
  /** Overrides everything: the URL containers use (no trailing /v1). */
  advertiseUrl?: string;
  /** Set when the docker runtime attaches gateway-only containers to an internal network. */
  gatewayNetwork?: string;
}

/** The gateway's root URL as seen from a container placed so, or undefined when it cannot reach it. */
export function gatewayRootUrl(a: GatewayAddressing, placement: ContainerPlacement): string | undefined {
  if (a.advertiseUrl) return a.advertiseUrl.replace(/\/+$/, '');
  if (placement.runtime === 'kubernetes') return undefined;
  switch (placement.networkMode) {
    case 'open':
      return `http://${PODMAN_HOST_ALIAS}:${a.port}`;
    case 'none':
    case 'gateway-only':
    case 'allowlist':
      return a.gatewayNetwork ? `http://${GATEWAY_HOST_ALIAS}:${a.port}` : undefined;
    default:
      return undefined;
  }
}

/** The environment for a container, given its gateway root URL and token. */
export function gatewayEnvVars(root: string | undefined, token: string, opts: { model: boolean; anthropic: boolean }): Record<string, string> {
  const env: Record<string, string> = { AGENT_MACHINE_GATEWAY_TOKEN: token };
  if (root) {
    env.AGENT_MACHINE_GATEWAY_URL = root;
    Object.assign(env, proxyEnvVars(root, token));
  }
  if (opts.model) {
    env.OPENAI_API_KEY = token;
    if (root) env.OPENAI_BASE_URL = `${root}/v1`;
    if (opts.anthropic) {
      env.ANTHROPIC_API_KEY = token;
      if (root) env.ANTHROPIC_BASE_URL = root;
    }
  }
  return env;
}

/**
 * The egress proxy variables: the gateway itself is the proxy, the token the password (the
 * proxy authenticates Proxy-Authorization, never the source address); the gateway's own host
 * is in NO_PROXY so model and tool calls go to it directly.
 */
export function proxyEnvVars(root: string, token: string): Record<string, string> {
  const u = new URL(root);
  const proxy = `${u.protocol}//agent:${encodeURIComponent(token)}@${u.host}`;
  const noProxy = [...new Set([u.hostname.replace(/^\[(.*)\]$/, '$1'), 'localhost', '127.0.0.1', '::1'])].join(',');
  return { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy, NO_PROXY: noProxy, no_proxy: noProxy };
}
