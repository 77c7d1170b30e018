// The container engine's create/start events, live from the moment of subscription. Tests use
// this rather than querying the past: podman's event log is shared by every podman service on
// the machine and rotated when it grows, so old events can be gone (a query then sees none).
import { setTimeout as sleep } from 'node:timers/promises';
import { docker } from './integration-env.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_UID_LABEL } from '../../src/runtimes/container-runtime.ts';

export interface EngineEvent {
  action: 'create' | 'start';
  /** Container id (12 characters) @ event time in ns: podman sometimes sends one event twice. */
  key: string;
  labels: Record<string, string>;
}

export async function watchEngineEvents() {
  const seen: EngineEvent[] = [];
  const keys = new Set<string>();
  const stream = (await docker().getEvents({ filters: { type: ['container'], event: ['create', 'start'], label: [`${MANAGED_BY_LABEL}=${MANAGED_BY}`] } })) as NodeJS.ReadableStream & { destroy(): void };
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      const e = JSON.parse(line) as { Action?: string; status?: string; id?: string; timeNano?: number; Actor?: { ID?: string; Attributes?: Record<string, string> } };
      const action = e.Action ?? e.status;
      if (action !== 'create' && action !== 'start') continue;
      const key = `${(e.Actor?.ID ?? e.id ?? '?').slice(0, 12)}@${e.timeNano}`;
      if (keys.has(`${action} ${key}`)) continue;
      keys.add(`${action} ${key}`);
      seen.push({ action, key, labels: e.Actor?.Attributes ?? {} });
    }
  });
  stream.on('error', () => {});
  await sleep(300); // the subscription is live before anything is created
  return {
    /** Every event of `action` so far. */
    all: (action: 'create' | 'start') => seen.filter((e) => e.action === action),
    /** Container id@time of each event of `action` for the record. */
    events: (action: 'create' | 'start', uid: string) => seen.filter((e) => e.action === action && e.labels[RECORD_UID_LABEL] === uid).map((e) => e.key),
    stop: () => stream.destroy(),
  };
}

export type EngineEventLog = Awaited<ReturnType<typeof watchEngineEvents>>;
