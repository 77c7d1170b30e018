// A tool API for connector tests: records what reached it (method, path with query, headers,
// body size), and answers
//   /echo-headers   200 with the request headers as JSON (an upstream that echoes the credential)
//   /stream         200 text/event-stream, one event every 100 ms until the client goes
//   anything else   200 {ok: true, method, path, bytes}
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ToolRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bytes: number;
}

export interface ToolUpstream {
  url: string;
  requests: ToolRequest[];
  /** Streams the server still writes to. */
  openStreams(): number;
  /** Body bytes received so far, over all requests (counted as they arrive). */
  bytesReceived(): number;
  close(): Promise<void>;
}

export async function startToolUpstream(host = '127.0.0.1'): Promise<ToolUpstream> {
  const requests: ToolRequest[] = [];
  let open = 0;
  let received = 0;
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      received += c.length;
    });
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, bytes });
      const path = req.url!.split('?')[0]!;
      if (path.endsWith('/echo-headers')) {
        const text = JSON.stringify(req.headers);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
        return;
      }
      if (path.endsWith('/stream')) {
        open++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let n = 0;
        const timer = setInterval(() => res.write(`data: {"n":${n++}}\n\n`), 100);
        res.on('close', () => {
          clearInterval(timer);
          open--;
        });
        return;
      }
      const text = JSON.stringify({ ok: true, method: req.method, path, bytes });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'set-cookie': 'session=upstream' }).end(req.method === 'HEAD' ? undefined : text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const a = server.address() as AddressInfo;
  return {
    url: `http://${host}:${a.port}`,
    requests,
    openStreams: () => open,
    bytesReceived: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
