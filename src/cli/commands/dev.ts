import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../../observability/logger.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { addControllerOptions, controllerConfig, type ControllerCliOptions } from './controller.ts';

export function registerDevCommand(program: Command): void {
  const cmd = program
    .command('dev')
    .summary('What make run runs: a local control plane and podman unless configured, then the controller')
    .description(
      'Run everything on this machine (make run): the cluster of --kubeconfig/$KUBECONFIG when it answers, ' +
        'else a local kube-apiserver + etcd; CRDs and admission policy installed; podman started unless ' +
        '$DOCKER_HOST answers; the controller in the foreground. Ctrl-C stops what it started.',
    )
    .option('--data-dir <path>', 'state of the local control plane and podman socket', path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'agent-machine', 'dev'));
  addControllerOptions(cmd, { metricsAddress: '127.0.0.1:8090', leaderElect: false, logFormat: 'dev' }).action(
    async (opts: ControllerCliOptions & { dataDir: string }) => {
      const logger = createLogger({ format: opts.logFormat, level: opts.logLevel });
      const [{ parseAddress }, { takenPorts, describeTaken }] = await Promise.all([import('../../controller/run.ts'), import('../../dev/port-check.ts')]);
      const taken = await takenPorts([
        { flag: '--metrics-bind-address', ...parseAddress(opts.metricsBindAddress) },
        { flag: '--gateway-bind-address', ...parseAddress(opts.gatewayBindAddress) },
      ]);
      if (taken.length > 0) {
        process.stderr.write(`agent-machine dev: ${describeTaken(taken)}\n`);
        process.exit(1);
      }
      const kubeconfigPath = opts.kubeconfig ?? process.env.KUBECONFIG;
      // Loaded on use, as in controller.ts, so other commands start fast.
      const [{ startController }, { startDevEnvironment }] = await Promise.all([import('../../controller/run.ts'), import('../../dev/dev-environment.ts')]);
      const env = await startDevEnvironment({
        kubeConfig: kubeconfigPath ? loadKubeConfig(kubeconfigPath) : undefined,
        kubeconfigPath,
        dataDir: opts.dataDir,
        log: logger,
        ...(opts.outputRegistry ? { outputRegistry: opts.outputRegistry } : {}),
        // Pods need a node: on its own control plane, make run starts one.
        node: opts.runtime === 'kubernetes',
      });
      const controller = await startController({
        ...controllerConfig(opts),
        dockerSocket: env.dockerSocket,
        ...(!opts.gatewayNetwork && env.gatewayNetwork ? { gatewayNetwork: env.gatewayNetwork } : {}),
        ...(env.outputRegistry ? { outputRegistry: env.outputRegistry } : {}),
        kubeConfig: loadKubeConfig(env.kubeconfigPath),
        logger,
        handleSignals: false,
      }).catch(async (err: unknown) => {
        await env.stop();
        throw err;
      });
      const kubectl = `kubectl --kubeconfig ${env.userKubeconfigPath}`;
      process.stdout.write(
        `\nagent-machine is running${env.local ? ' on a local control plane' : ''}. In another terminal:\n\n` +
          `  export KUBECONFIG=${env.userKubeconfigPath}\n` +
          `  ${kubectl} get agent-machine\n` +
          `  ${kubectl} apply -f examples/profiles/personal.yaml\n\n` +
          (env.node ? `Pods run on the local node ${env.node.nodeName} (images imported: podman save IMAGE | ctr --address ${env.node.containerdSocket} -n k8s.io images import -).\n` : '') +
          `metrics: ${controller.manager.healthUrl}/metrics   audit log: ${opts.auditLog}   Ctrl-C stops everything.\n\n`,
      );
      let stopping = false;
      const stop = (signal: NodeJS.Signals): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping');
        void controller
          .stop()
          .finally(() => env.stop())
          .finally(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
  );
}
