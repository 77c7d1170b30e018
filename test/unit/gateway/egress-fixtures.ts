// A gateway with its egress proxy for the egress unit tests: informer caches fed by the test,
// the test's name map as the proxy's resolver, an in-memory audit sink, a metrics registry; and
// raw-socket helpers (CONNECT, any bytes) for what fetch clients never send.
import net from 'node:net';
import type { V1Secret } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { CelSandbox } from '../../../src/governance/cel-sandbox.ts';
import type { AuditRecord } from '../../../src/governance/audit-log.ts';
import { GatewayServer } from '../../../src/gateway/server.ts';
import { TokenStore, mintToken, tokenSecretFor } from '../../../src/gateway/tokens.ts';
import { UsageLedger } from '../../../src/gateway/ledger.ts';
import { CredentialCache } from '../../../src/gateway/credentials.ts';
import type { KubeClients } from '../../../src/operator/kube-clients.ts';
import { silentLogger } from '../../../src/observability/logger.ts';
import { FakeInformer, TestCallAuthority, execution } from './fixtures.ts';
import type { AgentMachineProfile, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../../../src/api/types.generated.ts';

export interface EgressGateway {
  url: string;
  port: number;
  server: GatewayServer;
  registry: Registry;
  audited: AuditRecord[];
  /** The RBAC re-check: set answer = 'deny' to take the delegator's RBAC away. */
  authority: TestCallAuthority;
  executions: ReturnType<typeof FakeInformer.of<LocalAgentExecution>>;
  profiles: ReturnType<typeof FakeInformer.of<AgentMachineProfile>>;
  /** A running execution under the profile; returns its token. */
  admit(name: string, profile: string, spec?: Partial<LocalAgentExecution['spec']>): string;
  close(): Promise<void>;
}

export async function startEgressGateway(o: { hosts: Record<string, string[]>; profiles: AgentMachineProfile[]; headersTimeoutMs?: number; egressIdleTimeoutMs?: number; originCa?: string[] }): Promise<EgressGateway> {
  const clients = { request: async () => ({}) } as unknown as KubeClients;
  const executions = FakeInformer.of<LocalAgentExecution>();
  const profiles = FakeInformer.of<AgentMachineProfile>(...o.profiles);
  const secrets = FakeInformer.of<V1Secret>();
  const tokens = new TokenStore(clients, secrets);
  const registry = new Registry();
  const audited: AuditRecord[] = [];
  const celSandbox = new CelSandbox();
  const authority = new TestCallAuthority();
  const server = new GatewayServer({
    tokens,
    informers: { executions, bindings: FakeInformer.of<ModelProviderBinding>(), profiles, grants: FakeInformer.of<ToolGrantRecord>() },
    credentials: new CredentialCache(clients),
    ledger: new UsageLedger({ clients, logger: silentLogger(), flushIntervalMs: 60_000 }),
    celSandbox,
    authority,
    logger: silentLogger(),
    registry,
    audit: { append: async (r: AuditRecord) => (audited.push(r), undefined as never) },
    egressAuditIntervalMs: 60_000,
    resolve: async (host) => {
      const mapped = o.hosts[host];
      if (!mapped) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return mapped;
    },
    ...(o.headersTimeoutMs ? { headersTimeoutMs: o.headersTimeoutMs } : {}),
    ...(o.egressIdleTimeoutMs ? { egressIdleTimeoutMs: o.egressIdleTimeoutMs } : {}),
    ...(o.originCa ? { egressOriginCa: o.originCa } : {}),
  });
  const bound = await server.listen('127.0.0.1', 0);
  server.setActive(true);
  return {
    url: bound.url,
    port: bound.port,
    server,
    registry,
    audited,
    authority,
    executions,
    profiles,
    admit(name, profile, spec = {}) {
      const ex = execution({ profileRef: { name: profile }, ...spec }, {}, name);
      executions.set(ex);
      const token = mintToken();
      const secret = tokenSecretFor(ex, token);
      secret.metadata!.uid = `s-${name}`;
      secrets.set(secret);
      return token;
    },
    async close() {
      await server.close();
      celSandbox.close();
    },
  };
}

export const basic = (token: string): string => `Basic ${Buffer.from(`agent:${token}`).toString('base64')}`;

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The connection, still open after a 200 to CONNECT. */
  socket: net.Socket;
  /** ms until the first byte of the answer (or the close). */
  ms: number;
}

/**
 * Sends raw bytes and reads the answer's head (and a body up to its content-length, or until
 * the peer closes). status 0: the connection closed without an answer.
 */
export function rawExchange(port: number, bytes: string | Buffer, opts: { timeoutMs?: number; keepOpen?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no answer within ${opts.timeoutMs ?? 10_000} ms`)), opts.timeoutMs ?? 10_000);
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (err) {
        socket.destroy();
        return reject(err);
      }
      const end = buf.indexOf('\r\n\r\n');
      const head = (end >= 0 ? buf.subarray(0, end) : buf).toString('latin1');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
      if (!opts.keepOpen) socket.destroy();
      let body = end >= 0 ? buf.subarray(end + 4).toString('utf8') : '';
      // A chunked body: just the data of its chunks.
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = body.split('\r\n').filter((_, i) => i % 2 === 1).join('');
      resolve({ status, headers, body, socket, ms: Date.now() - started });
    };
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1'))?.[1] ?? 0);
      const chunkedDone = /transfer-encoding:\s*chunked/i.test(buf.subarray(0, end).toString('latin1')) && buf.subarray(end).includes('\r\n0\r\n\r\n');
      if ((status === 200 && opts.keepOpen) || (m && buf.length - end - 4 >= Number(m[1])) || chunkedDone) finish();
    });
    socket.on('close', () => finish());
    socket.on('error', () => finish());
    socket.write(bytes);
  });
}

export const connectRequest = (authority: string, token?: string, extra = ''): string => `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${token ? `Proxy-Authorization: ${basic(token)}\r\n` : ''}${extra}\r\n`;
