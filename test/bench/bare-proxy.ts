// The floor the gateway is measured against (benchmarks only): a bare Node reverse proxy with no
// governance — no token, policy, budget or usage — that adds the provider key and forwards to
// the upstream over a keep-alive pool, as the gateway does. Run as its own process, like the
// gateway (the controller), so both paths have the same shape:
//   node test/bench/bare-proxy.ts --upstream URL --api-key KEY [--pass-headers] [--map NAME=ADDRESS]
//     → prints {"url": ...}
// --pass-headers forwards the client's request headers and the upstream's answer headers (what
// connector and MCP calls need: Accept, Mcp-Session-Id), as the gateway's connector route does;
// without it only the content type goes either way (the model-call floor).
// It is also a bare CONNECT proxy (no authentication, no allowlist, no address checks): the
// floor for the egress proxy's tunnels; --map pins a name as the gateway's --egress-hosts does.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

const arg = (name: string): string => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const upstream = new URL(arg('--upstream'));
const auth = `Bearer ${arg('--api-key')}`;
const passHeaders = process.argv.includes('--pass-headers');
const mapAt = process.argv.indexOf('--map');
const [mapName, mapAddress] = mapAt >= 0 ? process.argv[mapAt + 1]!.split('=') : [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'authorization', 'proxy-authorization', 'upgrade', 'te', 'trailer']);

function copied(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

const server = http.createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const headers = passHeaders ? { ...copied(req.headers), 'content-length': body.length, authorization: auth } : { 'content-type': 'application/json', 'content-length': body.length, authorization: auth };
    const up = http.request({ agent, hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (upRes) => {
      const out: Buffer[] = [];
      upRes.on('data', (c: Buffer) => out.push(c));
      upRes.on('end', () => {
        const all = Buffer.concat(out);
        const back = passHeaders ? copied(upRes.headers) : { 'content-type': String(upRes.headers['content-type'] ?? 'application/json') };
        res.writeHead(upRes.statusCode ?? 502, { ...back, 'content-length': all.length }).end(all);
      });
    });
    up.on('error', () => res.writeHead(502).end());
    up.end(body);
  });
});
server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
  const colon = req.url!.lastIndexOf(':');
  const host = req.url!.slice(0, colon);
  // No Nagle on either leg, as the gateway's sockets: a small TLS record must not wait.
  client.setNoDelay(true);
  const target = net.connect({ port: Number(req.url!.slice(colon + 1)), host: host === mapName ? mapAddress! : host, noDelay: true }, () => {
    client.write('HTTP/1.1 200 Connection established\r\n\r\n');
    if (head.length > 0) target.write(head);
    client.pipe(target).pipe(client);
  });
  const close = () => {
    client.destroy();
    target.destroy();
  };
  target.on('error', close);
  client.on('error', close);
  target.on('close', close);
  client.on('close', close);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
