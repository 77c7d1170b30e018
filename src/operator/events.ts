// Kubernetes Events (events.k8s.io/v1) about our objects: what `kubectl describe` and
// `kubectl events` show, and one leg of the audit trail.
//
// Recording is best effort by design: an event that cannot be written (RBAC, quota, API
// server briefly away) is logged and dropped, never thrown, so it cannot fail a reconcile.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubernetesObject } from '@kubernetes/client-node';
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
}

export class EventRecorder {
  readonly #clients: KubeClients;
  readonly #log: Logger;
  readonly reportingController: string;
  readonly reportingInstance: string;

  constructor(clients: KubeClients, opts: EventRecorderOptions = {}) {
    this.#clients = clients;
    this.#log = (opts.logger ?? silentLogger()).child({ component: 'events' });
    this.reportingController = opts.reportingController ?? REPORTING_CONTROLLER;
    this.reportingInstance = truncateUtf8(opts.reportingInstance ?? process.env.POD_NAME ?? hostname(), MAX_FIELD);
  }

  /** Creates the event; resolves with its name, or undefined when it could not be recorded. */
  async record(regarding: KubernetesObject, input: EventInput): Promise<string | undefined> {
    const meta = regarding.metadata ?? {};
    // Events of cluster-scoped objects live in 'default', as kubectl and client-go put them.
    const namespace = meta.namespace || 'default';
    const now = new Date();
    const name = eventName(meta.name ?? 'unknown', now);
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime: microTime(now),
      type: input.type,
      reason: truncateUtf8(input.reason, MAX_FIELD),
      action: truncateUtf8(input.action, MAX_FIELD),
      note: truncateUtf8(input.note ?? '', MAX_NOTE_BYTES),
      reportingController: this.reportingController,
      reportingInstance: this.reportingInstance,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
    };
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
