// Destinations for the egress proxy tests: an HTTPS server with a self-signed certificate for
// the names the tests map to it (made by the machine's openssl at start), and a plain HTTP
// server. Both answer every request with 200 and a body naming the server, and record what
// they saw (method, path, Host, whether a Proxy-Authorization reached them).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SeenRequest {
  method: string;
  path: string;
  host: string | undefined;
  proxyAuthorization: boolean;
  bodyBytes: number;
}

export interface DestinationServer {
  url: string;
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}

export interface TlsDestinationServer extends DestinationServer {
  /** The self-signed certificate (PEM): clients trust it as their CA. */
  ca: string;
}

/** A self-signed certificate for these DNS names (and 127.0.0.1). */
export function selfSignedCertificate(names: string[]): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'am-tls-'));
  try {
    const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`, '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function handler(name: string, seen: SeenRequest[]): http.RequestListener {
  return (req, res) => {
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => (bodyBytes += c.length));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', host: req.headers.host, proxyAuthorization: req.headers['proxy-authorization'] !== undefined, bodyBytes });
      const body = `hello from ${name} (${bodyBytes} bytes received)\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  };
}

async function listen(server: http.Server, host: string, scheme: string, seen: SeenRequest[]): Promise<DestinationServer> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${scheme}://${host}:${port}`,
    port,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export async function startTlsDestination(names: string[], host = '127.0.0.1'): Promise<TlsDestinationServer> {
  const { key, cert } = selfSignedCertificate(names);
  const seen: SeenRequest[] = [];
  const server = https.createServer({ key, cert }, handler(names[0]!, seen));
  return { ...(await listen(server, host, 'https', seen)), ca: cert };
}

export async function startHttpDestination(name: string, host = '127.0.0.1'): Promise<DestinationServer> {
  const seen: SeenRequest[] = [];
  return listen(http.createServer(handler(name, seen)), host, 'http', seen);
}
