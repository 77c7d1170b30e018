// What reconcilers share: built once by the controller process (src/controller/run.ts).
import type { AgentMachineProfile, ContainerExecutionRecord, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../api/types.generated.ts';
import type { AgentMachineDiagnosticBundle } from '../api/types.generated.ts';
import type { ContainerRuntime } from '../runtimes/container-runtime.ts';
import type { OutputStore } from '../outputs/output-store.ts';
import type { Informer } from '../operator/informer.ts';
import type { KubeClients } from '../operator/kube-clients.ts';
import type { StatusWriter } from '../operator/status-writer.ts';
import type { Logger } from '../observability/logger.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import type { CelSandbox } from '../governance/cel-sandbox.ts';
import type { GatewayEnvSource } from '../gateway/injection.ts';
import type { PromptMemory } from '../gateway/prompt-memory.ts';
import type { Authorizer } from './authorization.ts';
import type { CommandRecorder } from './command-recorder.ts';

export interface ReconcilerDeps {
  clients: KubeClients;
  informers: {
    profiles: Informer<AgentMachineProfile>;
    grants: Informer<ToolGrantRecord>;
    containers: Informer<ContainerExecutionRecord>;
    executions: Informer<LocalAgentExecution>;
    bundles: Informer<AgentMachineDiagnosticBundle>;
    bindings: Informer<ModelProviderBinding>;
  };
  /** The runtimes this controller can drive; records name one or get the default. */
  runtimes: Partial<Record<ContainerRuntime['kind'], ContainerRuntime>>;
  defaultRuntime: ContainerRuntime['kind'];
  status: StatusWriter;
  recorder: CommandRecorder;
  authorizer: Authorizer;
  /** Where profile CEL rules run; the controller process starts it and closes it at shutdown. */
  celSandbox: CelSandbox;
  metrics: OperatorMetrics;
  logger: Logger;
  clock: () => Date;
  /** The gateway URL and token for an execution's containers; absent when the gateway is off. */
  gatewayEnv?: GatewayEnvSource;
  /** Prompt texts the gateway forwarded, per execution: removed from what is written about it. */
  prompts?: PromptMemory;
  /** Where finished records' declared outputs are stored (the output registry); none: outputs are not kept. */
  outputs?: OutputStore;
}
