// etcd's v3 JSON gateway (POST /v3/...), for what only etcd can do in a test: compact the
// history, so a watch from an older resourceVersion gets 410 Gone from an API server that
// serves watches from etcd.
import { controlPlaneParts } from './integration-env.ts';

async function call<T>(rpc: string, body: object): Promise<T> {
  const res = await fetch(`${controlPlaneParts().etcdUrl}/v3/${rpc}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${rpc}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** The store's current revision (what the API server calls the newest resourceVersion). */
export async function etcdRevision(): Promise<number> {
  const r = await call<{ header: { revision: string } }>('kv/range', { key: Buffer.from('/').toString('base64') });
  return Number(r.header.revision);
}

/** Drops all history before `revision` (physical: returns once it is applied). */
export async function compactEtcd(revision: number): Promise<void> {
  await call('kv/compaction', { revision: String(revision), physical: true });
}
