// A record's container output through the Docker Engine API (podman's or dockerd's socket):
// the containers the docker runtime creates carry the record's UID as a label.
import { PassThrough } from 'node:stream';
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

  async stream(record: { uid: string }, follow: boolean, onText: (text: string) => void, signal: AbortSignal): Promise<boolean> {
    const found = await this.#docker.listContainers({ all: true, filters: { label: [`${RECORD_UID_LABEL}=${record.uid}`] } });
    const container = found.sort((a, b) => b.Created - a.Created)[0];
    if (!container) return false;
    const modem = (this.#docker as unknown as { modem: Modem }).modem;
    let raw: NodeJS.ReadableStream;
    try {
      raw = await new Promise((resolve, reject) =>
        modem.dial(
          { path: `/containers/${container.Id}/logs?`, method: 'GET', isStream: true, statusCodes: { 200: true, 404: 'no such container', 500: 'server error' }, options: { stdout: true, stderr: true, follow } },
          (err, data) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
        ),
      );
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false; // removed in between
      throw err;
    }
    // stdout and stderr as one text, as a terminal shows them; a character split over two
    // frames is put back together by the decoder.
    const merged = new PassThrough();
    const decoder = new StringDecoder('utf8');
    merged.on('data', (chunk: Buffer) => {
      const text = decoder.write(chunk);
      if (text) onText(sanitizeLogText(Buffer.from(text, 'utf8')));
    });
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
    const rest = decoder.end();
    if (rest) onText(sanitizeLogText(Buffer.from(rest, 'utf8')));
    return true;
  }
}
