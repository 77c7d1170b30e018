// A TCP forwarder to the API server that tests can break: reset its connections (a watch sees
// ECONNRESET) or stop listening (new connections are refused). Real sockets, real server.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export class TcpProxy {
  readonly #kc: KubeConfig;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;
  connections = 0;

  /** Forwards to the server of `kc`'s current cluster. */
  constructor(kc: KubeConfig) {
    this.#kc = kc;
  }

  /** host: where to listen; e.g. a local node's address, which its Pods reach (in-cluster-install.test.ts). */
  async listen(host = '127.0.0.1'): Promise<void> {
    const target = new URL(this.#kc.getCurrentCluster()!.server);
    const server = createServer((client) => {
      this.connections++;
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, host, () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Drops every open connection (a watch sees a reset). */
  reset(): void {
    for (const s of this.#sockets) s.resetAndDestroy();
  }

  /** Stops listening (new connections are refused) and drops open ones; listen() again reuses the port. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.reset();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The same kubeconfig, pointing at the proxy. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.#kc.exportConfig());
    kc.clusters = kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${this.port}` }));
    return kc;
  }
}
