// A record's Pod output through the Pod logs API, with the caller's own credentials (so the
// caller needs get on pods/log in the record's namespace, as for kubectl logs). The Pods the
// kubernetes runtime creates live in the record's namespace and carry its UID as a label.
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Log, type KubeConfig } from '@kubernetes/client-node';
import type { KubeClients } from '../../operator/kube-clients.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_UID_LABEL } from '../../runtimes/container-runtime.ts';
import { CONTAINER_NAME } from '../../runtimes/kubernetes/pod.ts';
import { sanitizeLogText } from '../../runtimes/log-text.ts';
import type { LogSource } from './log-source.ts';

export class KubernetesLogSource implements LogSource {
  readonly kind = 'kubernetes' as const;
  readonly #clients: KubeClients;
  readonly #kubeConfig: KubeConfig;

  constructor(kubeConfig: KubeConfig, clients: KubeClients) {
    this.#kubeConfig = kubeConfig;
    this.#clients = clients;
  }

  async stream(record: { uid: string; namespace: string }, follow: boolean, onText: (text: string) => void, signal: AbortSignal): Promise<'complete' | 'absent' | 'cut'> {
    const pods = await this.#clients.core.listNamespacedPod({ namespace: record.namespace, labelSelector: `${RECORD_UID_LABEL}=${record.uid},${MANAGED_BY_LABEL}=${MANAGED_BY}` });
    const pod = pods.items.find((p) => !p.metadata?.deletionTimestamp) ?? pods.items[0];
    // A Pod whose container never started has no log to give yet.
    if (!pod?.metadata?.name || !pod.status?.containerStatuses?.some((c) => c.state?.running || c.state?.terminated)) return 'absent';
    const decoder = new StringDecoder('utf8');
    let ended!: () => void;
    const finished = new Promise<void>((resolve) => (ended = resolve));
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        const text = decoder.write(chunk);
        if (text) onText(sanitizeLogText(Buffer.from(text, 'utf8')));
        cb();
      },
      final(cb) {
        ended();
        cb();
      },
    });
    const req = await new Log(this.#kubeConfig).log(record.namespace, pod.metadata.name, CONTAINER_NAME, sink, (err) => (err ? sink.destroy(err) : ended()), { follow });
    const abort = () => {
      req.abort();
      ended();
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    await Promise.race([finished, new Promise<void>((_, reject) => sink.on('error', reject))]);
    const rest = decoder.end();
    if (rest) onText(sanitizeLogText(Buffer.from(rest, 'utf8')));
    return 'complete';
  }
}
