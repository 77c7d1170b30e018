// A record's container output through the Docker Engine API (podman's or dockerd's socket):
// the containers the docker runtime creates carry the record's UID as a label.
import { StringDecoder } from 'node:string_decoder';
import Docker from 'dockerode';
import { RECORD_UID_LABEL } from '../../runtimes/container-runtime.ts';
import { sanitizeLogText } from '../../runtimes/log-text.ts';
import type { LogSource } from './log-source.ts';

interface Modem {
  dial(opts: object, cb: (err: unknown, data: unknown) => void): void;
  demuxStream(stream: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): void;
}

export class DockerLogSource implements LogSource {
  readonly kind = 'docker' as const;
  readonly socketPath: string;
  readonly #docker: Docker;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
    this.#docker = new Docker({ socketPath });
  }

  async stream(record: { uid: string }, follow: boolean, onText: (text: string) => void, signal: AbortSignal): Promise<'complete' | 'absent' | 'cut'> {
    const found = await this.#docker.listContainers({ all: true, filters: { label: [`${RECORD_UID_LABEL}=${record.uid}`] } });
    const container = found.sort((a, b) => b.Created - a.Created)[0];
    if (!container) return 'absent';
    // A created container not started yet has no output, and podman ends a followed stream of it
    // at once: following it now would read nothing and call it complete. Look again later.
    if (follow && container.State === 'created') return 'absent';
    const decoder = new StringDecoder('utf8');
    const emit = (chunk: Buffer) => {
      const text = decoder.write(chunk);
      if (text) onText(sanitizeLogText(Buffer.from(text, 'utf8')));
    };
    let seen = 0;
    const read = await this.#read(container.Id, follow, signal, (chunk) => {
      seen += chunk.length;
      emit(chunk);
    });
    if (read === 'absent') return 'absent';
    if (follow && !signal.aborted) {
      // podman ends a followed stream when the container exits, sometimes before its last
      // lines: read the whole log once more and hand on what the stream did not bring. The
      // log only grows, so the payload bytes already seen are its first bytes.
      let offset = 0;
      const rest = await this.#read(container.Id, false, signal, (chunk) => {
        const skip = Math.min(chunk.length, Math.max(0, seen - offset));
        offset += chunk.length;
        if (skip < chunk.length) emit(chunk.subarray(skip));
      });
      if (rest === 'absent') {
        const end = decoder.end();
        if (end) onText(sanitizeLogText(Buffer.from(end, 'utf8')));
        return 'cut';
      }
    }
    const end = decoder.end();
    if (end) onText(sanitizeLogText(Buffer.from(end, 'utf8')));
    return 'complete';
  }

  /** One logs request: the demultiplexed payload (stdout and stderr as one) to onPayload. */
  async #read(id: string, follow: boolean, signal: AbortSignal, onPayload: (chunk: Buffer) => void): Promise<'read' | 'absent'> {
    const modem = (this.#docker as unknown as { modem: Modem }).modem;
    let raw: NodeJS.ReadableStream;
    try {
      raw = await new Promise((resolve, reject) =>
        modem.dial(
          { path: `/containers/${id}/logs?`, method: 'GET', isStream: true, statusCodes: { 200: true, 404: 'no such container', 500: 'server error' }, options: { stdout: true, stderr: true, follow } },
          (err, data) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
        ),
      );
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return 'absent'; // removed in between
      throw err;
    }
    // Written synchronously as frames are parsed: every byte is counted before 'end'.
    const merged = { write: (chunk: Buffer) => (onPayload(chunk), true) } as unknown as NodeJS.WritableStream;
    modem.demuxStream(raw, merged, merged);
    await new Promise<void>((resolve, reject) => {
      const done = () => resolve();
      raw.on('end', done);
      raw.on('close', done);
      raw.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      const abort = () => {
        (raw as unknown as { destroy?: () => void }).destroy?.();
        resolve();
      };
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
    });
    return 'read';
  }
}
