// Benchmark (prints figures, asserts nothing): what the kubernetes runtime adds to a Pod's start
// on a real node (containerd + kubelet + scheduler, test/support/node.ts).
//   Runtime: KubernetesRuntime.ensure() of a `true` container (gated Pod, NetworkPolicy, env
//   Secret, ungate), time until its container has started (running or already terminated) and
//   until the Pod is Succeeded. Baseline: a bare Pod running `true` created directly, in the same
//   run, alternating with the runtime's. Medians and the ratio (target ≤ 1.2x). A second baseline,
//   the runtime's own Pod shape (its volumes, env from a Secret, hardening) created directly and
//   ungated, splits what the Pod's shape costs on the kubelet from what the runtime's steps cost.
// Both are observed by the same 25 ms polling of the Pod, so the polling cost is common.
// Run: make bench-node
import { randomBytes, randomUUID } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { createKubeClients, isNotFound } from '../../src/operator/kube-clients.ts';
import { PODS } from '../../src/operator/resource.ts';
import { KubernetesRuntime } from '../../src/runtimes/kubernetes/kubernetes-runtime.ts';
import { envSecretFor, podFor, podNameFor } from '../../src/runtimes/kubernetes/pod.ts';
import { adminKubeConfig, sandboxImage } from '../support/integration-env.ts';
import { startTestNode } from '../support/node.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const admin = createKubeClients(adminKubeConfig());
const ns = `bench-node-${randomBytes(3).toString('hex')}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const getPod = (name: string): Promise<V1Pod | undefined> =>
  admin.request<V1Pod>({ method: 'GET', path: PODS.apiPath(ns, name) }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });

/** ms from t0 until the container started and until the Pod Succeeded. */
async function observe(name: string, t0: number): Promise<{ started: number; succeeded: number }> {
  let started: number | undefined;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const pod = await getPod(name);
    const state = pod?.status?.containerStatuses?.[0]?.state;
    if (started === undefined && (state?.running || state?.terminated)) started = performance.now() - t0;
    if (pod?.status?.phase === 'Succeeded') return { started: started ?? performance.now() - t0, succeeded: performance.now() - t0 };
    if (pod?.status?.phase === 'Failed') throw new Error(`${name} failed: ${JSON.stringify(pod.status)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name} did not succeed in time`);
}

async function main(): Promise<void> {
  const node = await startTestNode((m) => console.log(`bench-node: ${m}`));
  try {
    console.log(`node: started (containerd, images imported, kubelet Ready) in ${(node.startupMs / 1000).toFixed(1)} s`);
    await admin.core.createNamespace({ body: { metadata: { name: ns } } });
    const rt = new KubernetesRuntime({ clients: admin, gateway: { namespace: 'agent-machine-system', podSelector: { app: 'agent-machine' }, port: 8443 } });
    const image = sandboxImage();
    const runtime = { started: [] as number[], succeeded: [] as number[] };
    const bare = { started: [] as number[], succeeded: [] as number[] };
    const shaped = { started: [] as number[], succeeded: [] as number[] };
    for (let i = 0; i < ROUNDS + 1; i++) {
      const spec = {
        recordUid: randomUUID(),
        recordNamespace: ns,
        recordName: `r${i}`,
        image,
        command: ['true'],
        env: { MODE: 'bench' },
        limits: { memoryBytes: 64 * 1024 * 1024, cpuMillis: 500, pidsLimit: 64, scratchBytes: 16 * 1024 * 1024 },
        network: { mode: 'gateway-only' as const },
        outputs: [],
      };
      let t0 = performance.now();
      await rt.ensure(spec);
      const r = await observe(podNameFor(spec), t0);
      const bareName = `bare-${i}`;
      t0 = performance.now();
      await admin.core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: bareName }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image, command: ['true'] }] } },
      });
      const b = await observe(bareName, t0);
      const shapedSpec = { ...spec, recordUid: randomUUID(), recordName: `s${i}` };
      const pod = podFor(shapedSpec);
      delete pod.spec?.schedulingGates;
      const secret = envSecretFor(shapedSpec);
      t0 = performance.now();
      if (secret) await admin.core.createNamespacedSecret({ namespace: ns, body: secret });
      await admin.core.createNamespacedPod({ namespace: ns, body: pod });
      const s = await observe(podNameFor(shapedSpec), t0);
      // The first round warms caches on both paths (scheduler, kubelet, image): not counted.
      if (i === 0) continue;
      runtime.started.push(r.started);
      runtime.succeeded.push(r.succeeded);
      bare.started.push(b.started);
      bare.succeeded.push(b.succeeded);
      shaped.started.push(s.started);
      shaped.succeeded.push(s.succeeded);
      await rt.remove(spec.recordUid);
      await admin.core.deleteNamespacedPod({ namespace: ns, name: bareName }).catch(() => {});
      await admin.core.deleteNamespacedPod({ namespace: ns, name: podNameFor(shapedSpec) }).catch(() => {});
      if (secret?.metadata?.name) await admin.core.deleteNamespacedSecret({ namespace: ns, name: secret.metadata.name }).catch(() => {});
    }
    const line = (what: keyof typeof runtime): string => {
      const [r, b, sh] = [median(runtime[what]), median(bare[what]), median(shaped[what])];
      return `create→${what === 'started' ? 'Running' : 'Succeeded'}: bare Pod median ${b.toFixed(0)} ms; kubernetes runtime median ${r.toFixed(0)} ms; ratio ${(r / b).toFixed(2)}x (target ≤ 1.2x); the runtime's Pod shape created directly ${sh.toFixed(0)} ms (runtime/shape ${(r / sh).toFixed(2)}x; ${ROUNDS} rounds)`;
    };
    console.log(line('started'));
    console.log(line('succeeded'));
  } finally {
    await node.stop();
  }
}

await main();
