// Kubernetes Events (events.k8s.io/v1) about our objects: what `kubectl describe` and
// `kubectl events` show, and one leg of the audit trail.
//
// Recording is best effort by design: an event that cannot be written (RBAC, quota, API
// server briefly away) is logged and dropped, never thrown, so it cannot fail a reconcile.
// Writes go out behind the reconcile, a few at a time (client-go's broadcaster does the same):
// a reconcile never waits for its Event, and a burst of 1,000 admissions does not put 1,000
// Event creates in the API server's queue ahead of the status writes users wait for. Beyond
// maxBacklog waiting events new ones are dropped (counted in the log); shutdown() flushes.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import PQueue from 'p-queue';
import type { KubernetesObject } from '@kubernetes/client-node';
import { settlesWithin } from './deadline.ts';
import { describeError } from './kube-clients.ts';
import { microTime } from './time.ts';
import type { KubeClients } from './kube-clients.ts';
import { silentLogger } from '../observability/logger.ts';
import type { Logger } from '../observability/logger.ts';

export const REPORTING_CONTROLLER = 'agentmachine.sourceos.dev/controller';
/** The API server rejects longer notes. */
export const MAX_NOTE_BYTES = 1024;
const MAX_FIELD = 128;

export interface EventInput {
  type: 'Normal' | 'Warning';
  /** CamelCase, why it happened: 'GrantApplied', 'PolicyDenied'. */
  reason: string;
  /** CamelCase, what was done or failed: 'Apply', 'Revoke', 'Start'. */
  action: string;
  /** Human-readable; truncated to 1 kB. */
  note?: string;
}

export interface EventRecorderOptions {
  /** Default: POD_NAME, else the host name. */
  reportingInstance?: string;
  reportingController?: string;
  logger?: Logger;
  /** Event writes in flight at once (default 2). */
  concurrency?: number;
  /** Events waiting to be written beyond which new ones are dropped (default 5,000). */
  maxBacklog?: number;
}

export class EventRecorder {
  readonly #clients: KubeClients;
  readonly #log: Logger;
  readonly reportingController: string;
  readonly reportingInstance: string;
  readonly name = 'event-recorder';
  readonly #writes: PQueue;
  readonly #maxBacklog: number;
  #dropped = 0;

  constructor(clients: KubeClients, opts: EventRecorderOptions = {}) {
    this.#clients = clients;
    this.#log = (opts.logger ?? silentLogger()).child({ component: 'events' });
    this.reportingController = opts.reportingController ?? REPORTING_CONTROLLER;
    this.reportingInstance = truncateUtf8(opts.reportingInstance ?? process.env.POD_NAME ?? hostname(), MAX_FIELD);
    this.#writes = new PQueue({ concurrency: opts.concurrency ?? 2 });
    this.#maxBacklog = opts.maxBacklog ?? 5_000;
  }

  /**
   * Queues the event; resolves with its name once written, or undefined when it could not be
   * recorded (or was dropped). Callers need not wait: it never rejects.
   */
  record(regarding: KubernetesObject, input: EventInput): Promise<string | undefined> {
    if (this.#writes.size >= this.#maxBacklog) {
      // One line per burst, not per event: the log would become the next overload.
      if (this.#dropped++ % 1000 === 0) this.#log.warn({ dropped: this.#dropped, backlog: this.#writes.size }, 'event backlog full: dropping events');
      return Promise.resolve(undefined);
    }
    // The object as it is now: by the time the write runs, the caller may have moved on.
    const event = eventBody(regarding, input, this.reportingController, this.reportingInstance);
    return this.#writes.add(() => this.#write(regarding, input, event)).then((n) => n ?? undefined, () => undefined);
  }

  /** A Runnable's start: nothing to start, events are written from the first record(). */
  start(): void {}

  /** Writes what is queued (within timeoutMs); true when nothing was left behind. */
  shutdown(timeoutMs: number): Promise<boolean> {
    return settlesWithin(this.#writes.onIdle(), timeoutMs);
  }

  async #write(regarding: KubernetesObject, input: EventInput, body: EventBody): Promise<string | undefined> {
    const meta = regarding.metadata ?? {};
    const { name, namespace } = body.metadata;
    try {
      await this.#clients.request({
        method: 'POST',
        path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`,
        body,
        signal: AbortSignal.timeout(10_000),
      });
      return name;
    } catch (err) {
      this.#log.warn(
        { error: describeError(err), regarding: `${regarding.kind}/${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`, reason: input.reason },
        'could not record event',
      );
      return undefined;
    }
  }
}

/** The events.k8s.io/v1 Event, named and timed when recorded (not when written). */
function eventBody(regarding: KubernetesObject, input: EventInput, reportingController: string, reportingInstance: string) {
  const meta = regarding.metadata ?? {};
  // Events of cluster-scoped objects live in 'default', as kubectl and client-go put them.
  const namespace = meta.namespace || 'default';
  const now = new Date();
  const name = eventName(meta.name ?? 'unknown', now);
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name, namespace },
    eventTime: microTime(now),
    type: input.type,
    reason: truncateUtf8(input.reason, MAX_FIELD),
    action: truncateUtf8(input.action, MAX_FIELD),
    note: truncateUtf8(input.note ?? '', MAX_NOTE_BYTES),
    reportingController,
    reportingInstance,
    regarding: {
      apiVersion: regarding.apiVersion,
      kind: regarding.kind,
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
    },
  };
}


type EventBody = ReturnType<typeof eventBody>;

/** Cuts s to at most maxBytes of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  const ellipsis = '…';
  let budget = maxBytes - Buffer.byteLength(ellipsis);
  let out = '';
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (n > budget) break;
    out += ch;
    budget -= n;
  }
  return out + ellipsis;
}

/** client-go's "<object>.<hex time>", plus randomness so two events in one ms do not collide. */
function eventName(objectName: string, now: Date): string {
  const suffix = `${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
  return `${objectName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
}
