import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogTail } from '../../../../src/runtimes/docker/log-tail.ts';

/** An Engine API log frame: [stream, 0, 0, 0, size u32 BE] + payload. */
function frame(stream: 1 | 2, payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Feeds bytes in pieces of `size` (so headers and payloads straddle chunk boundaries). */
function feed(tail: LogTail, bytes: Buffer, size: number): void {
  for (let i = 0; i < bytes.length; i += size) tail.push(bytes.subarray(i, i + size));
}

test('demultiplexes stdout and stderr frames in order, whatever the chunking', () => {
  const stream = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err one\n'), frame(1, 'out two\n')]);
  for (const size of [1, 3, 7, 8, 9, 1000]) {
    const tail = new LogTail(1000);
    feed(tail, stream, size);
    assert.equal(tail.text(), 'out one\nerr one\nout two\n', `chunk size ${size}`);
    assert.equal(tail.truncated, false);
  }
});

test('keeps only the last maxBytes of payload and says it cut', () => {
  const tail = new LogTail(10);
  feed(tail, Buffer.concat([frame(1, 'abcdefghij'), frame(1, 'KLMNO\n'), frame(2, 'pq\n')]), 5);
  assert.equal(tail.bytes().toString(), 'jKLMNO\npq\n');
  assert.equal(tail.truncated, true);
  assert.equal(new LogTail(0).text(), '');
});

test('50 MB of frames pass through in bounded memory', () => {
  const tail = new LogTail(4096);
  const line = frame(1, `${'x'.repeat(1000)}\n`);
  const chunk = Buffer.concat(Array.from({ length: 64 }, () => line)); // ~64 KB, like a socket read
  const rounds = Math.ceil((50 * 1024 * 1024) / chunk.length);
  for (let i = 0; i < rounds; i++) {
    tail.push(chunk);
    if (i % 97 === 0) assert.ok(tail.bytes().length <= 4096);
  }
  tail.push(frame(2, 'LAST\n'));
  const text = tail.text();
  assert.ok(text.endsWith('x\nLAST\n'));
  assert.equal(Buffer.byteLength(text), 4096);
});

test('a single frame larger than maxBytes keeps its end', () => {
  const tail = new LogTail(8);
  feed(tail, frame(1, `${'a'.repeat(100000)}END\n`), 4096);
  assert.equal(tail.text(), 'aaaaEND\n');
});

test('a TTY (raw) stream is kept as is', () => {
  const tail = new LogTail(100);
  tail.push(Buffer.from('hello from a tty\r\n'));
  tail.push(Buffer.from('second\n'));
  assert.equal(tail.text(), 'hello from a tty\nsecond\n');
});

test('a multibyte character cut at the start is dropped, not shown as garbage', () => {
  const tail = new LogTail(5);
  feed(tail, frame(1, 'ab€€'), 100); // € is 3 bytes: the last 5 bytes start inside the first €
  assert.equal(tail.bytes().length, 5);
  assert.equal(tail.text(), '€');
});
