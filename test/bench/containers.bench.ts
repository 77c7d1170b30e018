// Benchmark (prints figures, asserts nothing): what the controller adds on top of running a
// container, and how fast it gets through a burst of executions.
//   1. Overhead: create a ContainerExecutionRecord running `true`, time until status says
//      Succeeded; baseline: `podman run --rm --network none IMAGE true` on the same engine, in
//      the same run. Median ratio (target < 1.5x).
//   2. Throughput: 50 LocalAgentExecutions created at once under a profile with
//      agentConcurrency 4: total wall time and executions per second.
// Run: make bench-containers
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { grantEditorRole, installApi } from '../support/install.ts';
import { createKubeClients } from '../../src/operator/kube-clients.ts';
import { kubeConfigFor, kubectl, sandboxImage } from '../support/integration-env.ts';
import { startControllerProcess } from '../support/controller-process.ts';
import { authority, createNamespace, eventually, getObject, suffix } from '../support/objects.ts';
import { RESOURCES } from '../../src/api/resources.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const BURST = Number(process.env.BENCH_BURST ?? 50);
const MiB = 1024 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  await installApi();
  const ns = await createNamespace('bench');
  // Everything is applied by a delegator with the agent-machine-delegator role, as a user would.
  await grantEditorRole('alice');
  await kubectl(['create', 'clusterrolebinding', `bench-delegator-alice`, '--clusterrole=agent-machine-delegator', '--user=alice'], { check: false });
  const alice = createKubeClients(kubeConfigFor('alice'));
  const id = suffix();
  const profileName = (c: number) => `bench-${c}-${id}`;
  for (const concurrency of [64, 4]) {
    const profile = {
      apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
      kind: 'AgentMachineProfile',
      metadata: { name: profileName(concurrency) },
      spec: {
        profileType: 'personal',
        authority: authority('alice', ['agent_machine.profile.create']),
        budgetCeilings: { modelCalls: 0, tokens: 0, connectorCalls: 0, cpuGpuComputeSeconds: 60, localDiskBytes: 16 * MiB, sandboxMemoryBytes: 64 * MiB, wallClockSeconds: 120, agentConcurrency: concurrency },
        network: { mode: 'none' },
      },
    };
    await alice.request({ method: 'POST', path: RESOURCES.AgentMachineProfile.apiPath(), body: profile });
  }
  const controller = await startControllerProcess({ auditLogPath: path.join(mkdtempSync(path.join(tmpdir(), 'am-bench-')), 'audit.jsonl') });
  try {
    for (const c of [64, 4]) await kubectl(['wait', '--for=condition=Ready', '--timeout=30s', `agentmachineprofile/${profileName(c)}`]);
    const image = sandboxImage();
    // Warm both paths once (image layers, first connections) before measuring.
    await run('podman', ['run', '--rm', '--network', 'none', image, 'true']);
    const record = (name: string) => ({
      apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
      kind: 'ContainerExecutionRecord',
      metadata: { name, namespace: ns },
      spec: {
        profileRef: { name: profileName(64) },
        authority: authority('alice', ['agent_machine.container.run']),
        container: { image, command: ['true'] },
      },
    });
    const timeRecord = async (name: string): Promise<number> => {
      const start = performance.now();
      await alice.request({ method: 'POST', path: RESOURCES.ContainerExecutionRecord.apiPath(ns), body: record(name) });
      await eventually(`${name} Succeeded`, async () => {
        const phase = (await getObject<any>('ContainerExecutionRecord', name, ns))?.status?.phase;
        if (phase && phase !== 'Succeeded' && !['Pending', 'Creating', 'Running'].includes(phase)) throw new Error(`${name} ended ${phase}`);
        return phase === 'Succeeded';
      }, 60_000, 10);
      return performance.now() - start;
    };
    await timeRecord(`warm-${id}`);

    const baseline: number[] = [];
    const controlled: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      let t = performance.now();
      await run('podman', ['run', '--rm', '--network', 'none', image, 'true']);
      baseline.push(performance.now() - t);
      controlled.push(await timeRecord(`run-${i}-${id}`));
    }
    const b = median(baseline);
    const c = median(controlled);
    console.log(`overhead: podman run --rm median ${b.toFixed(0)} ms; ContainerExecutionRecord create→Succeeded median ${c.toFixed(0)} ms; ratio ${(c / b).toFixed(2)}x (target < 1.5x; ${ROUNDS} rounds)`);

    const execution = (i: number) => ({
      apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
      kind: 'LocalAgentExecution',
      metadata: { name: `burst-${i}-${id}`, namespace: ns },
      spec: {
        profileRef: { name: profileName(4) },
        authority: authority('alice', ['agent_machine.execution.start', 'agent_machine.container.run']),
        containers: [{ name: 'agent', image, command: ['true'] }],
      },
    });
    const started = performance.now();
    await Promise.all(Array.from({ length: BURST }, (_, i) => alice.request({ method: 'POST', path: RESOURCES.LocalAgentExecution.apiPath(ns), body: execution(i) })));
    await eventually(`${BURST} executions Succeeded`, async () => {
      const list = await alice.request<any>({ method: 'GET', path: RESOURCES.LocalAgentExecution.apiPath(ns) });
      const done = list.items.filter((e: any) => e.metadata.name.startsWith('burst-') && e.status?.phase === 'Succeeded').length;
      return done === BURST;
    }, 600_000, 200);
    const seconds = (performance.now() - started) / 1000;
    console.log(`throughput: ${BURST} executions, agentConcurrency 4: ${seconds.toFixed(1)} s, ${(BURST / seconds).toFixed(2)} executions/s`);
  } finally {
    await controller.kill('SIGTERM');
  }
}

await main();
