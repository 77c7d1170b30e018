// The GatewayToken controller: keeps each execution's gateway token in step with the execution
// (mint while it runs, delete its Secret once it finished or went away). It also switches the
// gateway on when it starts (this replica leads) and drains it on shutdown: only the leader
// answers calls, because the usage ledger is the single writer of the gateway's counts.
import type { V1Secret } from '@kubernetes/client-node';
import type { AgentMachineProfile, LocalAgentExecution } from '../api/types.generated.ts';
import { containerNetworkMode } from '../governance/profile-rules.ts';
import { Controller } from '../operator/controller.ts';
import type { Informer } from '../operator/informer.ts';
import type { Logger } from '../observability/logger.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import type { ExecutionGatewayEnv } from '../gateway/injection.ts';
import type { UsageLedger } from '../gateway/ledger.ts';
import type { GatewayServer } from '../gateway/server.ts';
import { TOKEN_EXECUTION_LABEL, tokenAction, type TokenStore } from '../gateway/tokens.ts';
import { holdsSlot, isTerminalExecutionPhase } from './execution-state.ts';

export interface GatewayTokenDeps {
  executions: Informer<LocalAgentExecution>;
  /** Profiles: an execution whose network reaches the egress proxy gets a token too. */
  profiles?: Informer<AgentMachineProfile>;
  /** The token Secrets informer (startGateway's `secrets`). */
  secrets: Informer<V1Secret>;
  tokens: TokenStore;
  server: GatewayServer;
  ledger: UsageLedger;
  env: ExecutionGatewayEnv;
  logger: Logger;
  metrics?: OperatorMetrics;
}

export function gatewayTokenController(d: GatewayTokenDeps): Controller {
  const { executions, tokens } = d;
  return new GatewayTokenController(d, {
    kind: 'GatewayToken',
    informer: executions,
    logger: d.logger,
    ...(d.metrics ? { metrics: d.metrics } : {}),
    concurrency: 2,
    // Only what tokenAction reads: status writes (usage, budget used, conditions) of a running
    // execution are most of its updates and never change its token.
    decidesOn: (o) => tokenInputs(o as LocalAgentExecution),
    // A token Secret whose execution is gone (deleted while this controller was down) is revoked.
    watches: [{ informer: d.secrets, map: (s) => [`${s.metadata?.namespace}/${(s as V1Secret).metadata?.labels?.[TOKEN_EXECUTION_LABEL] ?? ''}`] }],
    reconcile: async (key) => {
      const ex = executions.get(key);
      const [namespace = '', name = ''] = key.split('/');
      if (!ex) return tokens.revoke(namespace, name);
      const profile = d.profiles?.get(ex.spec.profileRef.name);
      const action = tokenAction(ex, profile ? containerNetworkMode(profile, ex.spec.network?.mode) : undefined);
      if (action === 'revoke') return tokens.revoke(namespace, name, ex.metadata.uid);
      if (action === 'ensure') await tokens.ensure(ex);
    },
  });
}

/**
 * The inputs of tokenAction an execution update can change (the profile's network is read
 * fresh). Of the phase only what tokenAction tells apart: ended, holding a slot, or waiting;
 * Pending → Queued (every admission) and Running ↔ Retrying change nothing about the token.
 */
export function tokenInputs(ex: LocalAgentExecution): string {
  const phase = ex.status?.phase;
  const stage = isTerminalExecutionPhase(phase) ? 'ended' : holdsSlot(phase) ? 'slot' : 'waiting';
  return [ex.metadata.uid, ex.metadata.generation, ex.metadata.deletionTimestamp ?? '', stage].join('|');
}

class GatewayTokenController extends Controller {
  readonly #d: GatewayTokenDeps;

  constructor(d: GatewayTokenDeps, opts: ConstructorParameters<typeof Controller>[0]) {
    super(opts);
    this.#d = d;
  }

  override start(): void {
    super.start();
    this.#d.server.setActive(true);
  }

  override async shutdown(timeoutMs?: number): Promise<boolean> {
    this.#d.server.setActive(false, 'the gateway is shutting down');
    const drained = await super.shutdown(timeoutMs);
    await this.#d.ledger.flush().catch(() => undefined);
    this.#d.ledger.stop();
    this.#d.env.close();
    await this.#d.server.close();
    return drained;
  }
}
