// /metrics, /healthz and /readyz on one small node:http server (what a Deployment's probes
// and a Prometheus scrape need). Loopback by default: exposing it is a deployment decision.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** ok plus optional per-check details, rendered as text like kube-apiserver's ?verbose output. */
export interface CheckResult {
  ok: boolean;
  checks?: Record<string, boolean>;
}

export type Check = () => boolean | CheckResult;

export interface HealthServerOptions {
  /** Default 127.0.0.1; '0.0.0.0' in a pod. */
  host?: string;
  /** Default 8080; 0 picks a free port (tests). */
  port?: number;
  registry: Registry;
  /** Liveness: false only when the process should be restarted. Default: always live. */
  healthz?: Check;
  /** Readiness: caches synced and not shutting down. */
  readyz: Check;
}

export interface HealthServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const healthz = opts.healthz ?? (() => true);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': opts.registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      let result: CheckResult;
      try {
        const r = (path === '/readyz' ? opts.readyz : healthz)();
        result = typeof r === 'boolean' ? { ok: r } : r;
      } catch {
        result = { ok: false };
      }
      const lines = Object.entries(result.checks ?? {}).map(([name, ok]) => `[${ok ? '+' : '-'}]${name} ${ok ? 'ok' : 'failed'}`);
      lines.push(result.ok ? 'ok' : `${path.slice(1)} check failed`);
      res.writeHead(result.ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${lines.join('\n')}\n`);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  });
  // A probe that hangs must not keep the server (and so a shutting-down process) alive.
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    host: addr.address,
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive scrapers would otherwise hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}
