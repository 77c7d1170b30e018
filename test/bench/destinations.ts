// The destinations of the egress and connector benchmarks (benchmarks only), in their own
// process like the model upstream so the bench client's CPU is its own: an HTTPS server with a
// self-signed certificate for allowed.test (what CONNECT tunnels reach) and the tool API of the
// connector tests.
//   node test/bench/destinations.ts → prints {"url": <tool API>, "tlsPort": N, "ca": PEM}
import { startTlsDestination } from '../support/tls-test-server.ts';
import { startToolUpstream } from '../support/tool-upstream.ts';

const tls = await startTlsDestination(['allowed.test']);
const tool = await startToolUpstream();
// Both record every request; a benchmark makes hundreds of thousands.
setInterval(() => {
  tls.seen.length = 0;
  tool.requests.length = 0;
}, 1000).unref();
process.stdout.write(`${JSON.stringify({ url: tool.url, tlsPort: tls.port, ca: tls.ca })}\n`);
process.on('SIGTERM', () => process.exit(0));
