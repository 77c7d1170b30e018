import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describeTaken, takenPorts } from '../../../src/dev/port-check.ts';

test('takenPorts names a port something already listens on, with what to do; a free port and port 0 pass', async () => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const busy = (holder.address() as AddressInfo).port;
  try {
    const taken = await takenPorts([
      { flag: '--metrics-bind-address', host: '127.0.0.1', port: busy },
      { flag: '--gateway-bind-address', host: '0.0.0.0', port: 0 },
    ]);
    assert.deepEqual(taken.map((t) => [t.flag, t.port, t.code]), [['--metrics-bind-address', busy, 'EADDRINUSE']]);
    assert.match(describeTaken(taken), new RegExp(`^127\\.0\\.0\\.1:${busy} \\(--metrics-bind-address\\) is already in use .*make run ARGS='--metrics-bind-address 127\\.0\\.0\\.1:0'$`));
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }
  // Released: free again, and checking did not keep it.
  assert.deepEqual(await takenPorts([{ flag: '--metrics-bind-address', host: '127.0.0.1', port: busy }]), []);
  assert.deepEqual(await takenPorts([{ flag: '--metrics-bind-address', host: '127.0.0.1', port: busy }]), []);
});
