// The floor the gateway is measured against (benchmarks only): a bare Node reverse proxy with no
// governance — no token, policy, budget or usage — that adds the provider key and forwards to
// the upstream over a keep-alive pool, as the gateway does. Run as its own process, like the
// gateway (the controller), so both paths have the same shape:
//   node test/bench/bare-proxy.ts --upstream URL --api-key KEY   → prints {"url": ...}
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const arg = (name: string): string => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (!v) throw new Error(`${name} is required`);
  return v;
};
const upstream = new URL(arg('--upstream'));
const auth = `Bearer ${arg('--api-key')}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

const server = http.createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const up = http.request(
      { agent, hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: auth } },
      (upRes) => {
        const out: Buffer[] = [];
        upRes.on('data', (c: Buffer) => out.push(c));
        upRes.on('end', () => {
          const all = Buffer.concat(out);
          res.writeHead(upRes.statusCode ?? 502, { 'content-type': String(upRes.headers['content-type'] ?? 'application/json'), 'content-length': all.length }).end(all);
        });
      },
    );
    up.on('error', () => res.writeHead(502).end());
    up.end(body);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
