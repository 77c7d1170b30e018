// The append-only, hash-chained audit log (JSONL). Each line is one entry
// `{seq, at, prevHash, hash, ...record}`; `hash` is the SHA-256 of the canonical JSON (sorted
// keys) of the entry without `hash`, and `prevHash` is the previous line's hash (64 zeros for
// the first). Editing, deleting, inserting or reordering lines breaks the chain at the first
// affected line. What a chain cannot show by itself is lines cut off the END: anchor `head()`
// somewhere else (status, metrics) and pass it to verifyAuditLog to catch that.
//
// Durability: appends are group-committed. Entries get their seq and hash synchronously, in
// call order; whatever accumulated while the previous write was in flight is written with one
// write() and one fdatasync(), and each append resolves only once its line is on disk.
//
// One writer per file: only the elected leader may open the log.
//
// Records carry names, identities, decisions and short reasons, never secret values or prompt
// text; reasons are bounded by sanitizeReason.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OperationType } from '../api/types.generated.ts';
import type { Decision } from './decision.ts';

export const GENESIS_HASH = '0'.repeat(64);
export const MAX_REASON_LENGTH = 512;

export type AuditOutcome = 'allowed' | 'denied' | 'queued' | 'started' | 'completed' | 'failed' | 'cancelled' | 'revoked' | 'expired';

/**
 * `resourceVersion`: the object version a command was decided on (commands only). With the uid,
 * operation, outcome and reason it identifies the decision, so a new leader can tell a decision
 * its predecessor already recorded from a new one (command-memory.ts).
 */
export type AuditObjectRef = { kind: string; namespace?: string; name: string; uid?: string; resourceVersion?: string };

export type AuditRecord = {
  operationType: OperationType;
  /** The command this record is about (e.g. the operation's commandRef). */
  commandRef: string;
  object: AuditObjectRef;
  /** The delegator. */
  actor: string;
  /** The agent identity acting under the delegation. */
  delegate?: string;
  outcome: AuditOutcome;
  reason: string;
  decisions?: Decision[];
  /** Egress proxy records (one batch per execution and outcome): destinations and bytes, never paths or headers. */
  egress?: EgressAuditItem[];
  /** Gateway call decisions (one batch per execution and outcome): kind, target, reason, how many. */
  calls?: GatewayCallAuditItem[];
};

/** One destination of an egress batch: how many connections, how many bytes each way. */
export type EgressAuditItem = { host: string; port: number; decision: 'allowed' | 'denied'; reason: string; connections: number; bytesUp: number; bytesDown: number };

export type GatewayCallKind = 'model' | 'tool' | 'connector' | 'mcp';
/** Gateway calls decided alike in one batch: the binding or tool (an MCP tool's name), the refusal code or `allowed`. */
export type GatewayCallAuditItem = { kind: GatewayCallKind; target: string; decision: 'allowed' | 'denied'; reason: string; calls: number };

export type AuditEntry = AuditRecord & { seq: number; at: string; prevHash: string; hash: string };
export type AuditHead = { seq: number; hash: string };

export type AuditLogProblem = 'torn-tail' | 'bad-tail' | 'broken' | 'closed' | 'invalid-record';

export class AuditLogError extends Error {
  readonly problem: AuditLogProblem;
  readonly line: number | undefined;
  constructor(problem: AuditLogProblem, message: string, line?: number) {
    super(message);
    this.name = 'AuditLogError';
    this.problem = problem;
    this.line = line;
  }
}

/** Single line, no control characters, at most 512 characters: reasons are summaries, not payloads. */
export function sanitizeReason(text: unknown): string {
  // eslint-disable-next-line no-control-regex
  const flat = String(text ?? '').replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length <= MAX_REASON_LENGTH ? flat : `${flat.slice(0, MAX_REASON_LENGTH - 1)}…`;
}

/** JSON with object keys sorted at every level, so the same entry always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

export function entryHash(entry: Record<string, unknown>): string {
  const { hash: _, ...rest } = entry;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

export function invalidRecord(record: AuditRecord): string | undefined {
  const missing = (['operationType', 'commandRef', 'actor', 'outcome'] as const).filter((k) => typeof record?.[k] !== 'string' || record[k] === '');
  if (missing.length > 0) return `audit record lacks ${missing.join(', ')}`;
  if (typeof record.object?.kind !== 'string' || typeof record.object?.name !== 'string') return 'audit record lacks object.kind or object.name';
  return undefined;
}

export function entryFor(record: AuditRecord, head: AuditHead, at: Date): AuditEntry {
  const body = {
    seq: head.seq + 1,
    at: at.toISOString(),
    prevHash: head.hash,
    operationType: record.operationType,
    commandRef: sanitizeReason(record.commandRef),
    object: { ...record.object },
    actor: record.actor,
    ...(record.delegate !== undefined ? { delegate: record.delegate } : {}),
    outcome: record.outcome,
    reason: sanitizeReason(record.reason),
    ...(record.decisions !== undefined ? { decisions: record.decisions.map((d) => ({ ...d, message: sanitizeReason(d.message) })) } : {}),
    ...(record.egress !== undefined ? { egress: record.egress.map((e) => ({ host: sanitizeReason(e.host), port: e.port, decision: e.decision, reason: sanitizeReason(e.reason), connections: e.connections, bytesUp: e.bytesUp, bytesDown: e.bytesDown })) } : {}),
    ...(record.calls !== undefined ? { calls: record.calls.map((c) => ({ kind: c.kind, target: sanitizeReason(c.target), decision: c.decision, reason: sanitizeReason(c.reason), calls: c.calls })) } : {}),
  };
  // Round-trip so the hash covers exactly what a reader will parse (undefined fields vanish).
  const plain = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
  return { ...plain, hash: entryHash(plain) } as AuditEntry;
}

type Pending = { line: string; entry: AuditEntry; resolve: (e: AuditEntry) => void; reject: (e: Error) => void };

export type AuditLogOptions = {
  /**
   * Move a torn last line (no newline: the process died mid-write) to PATH.torn-<time> and
   * continue the chain from the last complete line. Safe because append() resolves only once
   * a whole line is durable: a torn fragment was never acknowledged to anyone. An edited or
   * otherwise invalid last line is still refused.
   */
  recoverTornTail?: boolean;
  /** Told about a recovered torn tail (where the fragment went). */
  onRecovered?: (fragmentPath: string) => void;
  /** `fdatasync` (default): an append resolves once durable. `none`: once written to the OS. */
  durability?: 'fdatasync' | 'none';
  clock?: () => Date;
};

export class AuditLog {
  readonly path: string;
  readonly #file: FileHandle;
  readonly #durable: boolean;
  readonly #clock: () => Date;
  #head: AuditHead;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #failure: AuditLogError | undefined;
  #closed = false;

  private constructor(path: string, file: FileHandle, head: AuditHead, options: AuditLogOptions) {
    this.path = path;
    this.#file = file;
    this.#head = head;
    this.#durable = (options.durability ?? 'fdatasync') === 'fdatasync';
    this.#clock = options.clock ?? (() => new Date());
  }

  /**
   * Opens (creating if needed) and continues the chain from the last line. A last line without
   * its newline (a crash mid-write) or one whose hash does not match is reported as an
   * AuditLogError, never silently continued: someone has to look at it.
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const file = await open(path, 'a+', 0o600);
    try {
      if (options.recoverTornTail) {
        const moved = await moveTornTailAside(file, path);
        if (moved) options.onRecovered?.(moved);
      }
      const head = await readHead(file, path);
      return new AuditLog(path, file, head, options);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /** The last entry's seq and hash: anchor it elsewhere to detect lines removed from the end. */
  head(): AuditHead {
    return { ...this.#head };
  }

  /**
   * The newest `limit` complete lines (oldest first), each checked against its hash and its
   * neighbour. Lines being written while it reads are left out: they are past the size it read.
   */
  async recent(limit: number): Promise<AuditEntry[]> {
    if (this.#closed) throw new AuditLogError('closed', `audit log ${this.path} is closed`);
    if (limit <= 0) return [];
    const { size } = await this.#file.stat();
    const chunks: Buffer[] = [];
    let newlines = 0;
    let pos = size;
    // One newline more than lines wanted: the text before the first one may be a line's end.
    while (pos > 0 && newlines <= limit) {
      const start = Math.max(0, pos - TAIL_CHUNK);
      const chunk = Buffer.alloc(pos - start);
      await this.#file.read(chunk, 0, chunk.length, start);
      for (const byte of chunk) if (byte === 0x0a) newlines++;
      chunks.unshift(chunk);
      pos = start;
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const lines = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').slice(0, -1);
    const whole = pos > 0 ? lines.slice(1) : lines;
    return tailEntries(whole.slice(-limit), `audit log ${this.path}`);
  }

  append(record: AuditRecord): Promise<AuditEntry> {
    if (this.#closed) return Promise.reject(new AuditLogError('closed', `audit log ${this.path} is closed`));
    if (this.#failure) return Promise.reject(this.#failure);
    const invalid = invalidRecord(record);
    if (invalid) return Promise.reject(new AuditLogError('invalid-record', invalid));
    const entry = entryFor(record, this.#head, this.#clock());
    this.#head = { seq: entry.seq, hash: entry.hash };
    return new Promise<AuditEntry>((resolve, reject) => {
      this.#pending.push({ line: `${canonicalJson(entry)}\n`, entry, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushing;
    await this.#file.close();
  }

  // Clears #flushing in the same synchronous step that finds the queue empty (no await in
  // between), so an append made by a caller resumed from this batch starts a new flush
  // instead of joining one that is already finishing.
  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0);
        try {
          await writeAll(this.#file, Buffer.from(batch.map((p) => p.line).join(''), 'utf8'));
          if (this.#durable) await this.#file.datasync();
        } catch (error) {
          // The in-memory head is now ahead of the file, and the file may end mid-line:
          // appending more would build on a chain that is not there. Refuse from here on.
          this.#failure = new AuditLogError('broken', `audit log ${this.path} write failed: ${error instanceof Error ? error.message : String(error)}`);
          for (const p of [...batch, ...this.#pending.splice(0)]) p.reject(this.#failure);
          return;
        }
        for (const p of batch) p.resolve(p.entry);
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}

async function writeAll(file: FileHandle, data: Buffer): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await file.write(data, offset, data.length - offset, null);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    offset += bytesWritten;
  }
}

const TAIL_CHUNK = 64 * 1024;

/** Reads backwards from the end to the start of the last line. */
async function readHead(file: FileHandle, path: string): Promise<AuditHead> {
  const { size } = await file.stat();
  if (size === 0) return { seq: 0, hash: GENESIS_HASH };
  const last = Buffer.alloc(1);
  await file.read(last, 0, 1, size - 1);
  if (last[0] !== 0x0a) {
    const line = await countLines(path);
    throw new AuditLogError('torn-tail', `audit log ${path}: line ${line} is incomplete (a write was cut off); verify the log and move it aside before appending`, line);
  }
  // Collect raw bytes back to the previous newline and decode once: a chunk boundary may
  // split a multi-byte character.
  const chunks: Buffer[] = [];
  for (let pos = size - 1; pos > 0; ) {
    const start = Math.max(0, pos - TAIL_CHUNK);
    const chunk = Buffer.alloc(pos - start);
    await file.read(chunk, 0, chunk.length, start);
    const newline = chunk.lastIndexOf(0x0a);
    chunks.unshift(newline >= 0 ? chunk.subarray(newline + 1) : chunk);
    if (newline >= 0) break;
    pos = start;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const parsed = parseLine(text);
  const problem = 'error' in parsed ? parsed.error : lineProblem(text, undefined);
  if (problem !== undefined || !('entry' in parsed)) {
    const line = (await countLines(path)) - 1;
    throw new AuditLogError('bad-tail', `audit log ${path}: last line ${line} is not a valid entry (${problem ?? 'unparseable'})`, line);
  }
  const entry = parsed.entry;
  return { seq: entry.seq, hash: entry.hash };
}

/** Cuts an incomplete last line off the file, keeping it in a side file; returns that path. */
async function moveTornTailAside(file: FileHandle, path: string): Promise<string | undefined> {
  const { size } = await file.stat();
  if (size === 0) return undefined;
  const last = Buffer.alloc(1);
  await file.read(last, 0, 1, size - 1);
  if (last[0] === 0x0a) return undefined;
  let keep = 0;
  for (let pos = size; pos > 0; ) {
    const start = Math.max(0, pos - TAIL_CHUNK);
    const chunk = Buffer.alloc(pos - start);
    await file.read(chunk, 0, chunk.length, start);
    const newline = chunk.lastIndexOf(0x0a);
    if (newline >= 0) {
      keep = start + newline + 1;
      break;
    }
    pos = start;
  }
  const fragment = Buffer.alloc(size - keep);
  await file.read(fragment, 0, fragment.length, keep);
  const fragmentPath = `${path}.torn-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await writeFile(fragmentPath, fragment, { mode: 0o600 });
  await file.truncate(keep);
  await file.sync();
  return fragmentPath;
}

async function countLines(path: string): Promise<number> {
  let lines = 1;
  for await (const chunk of createReadStream(path)) {
    for (const byte of chunk as Buffer) if (byte === 0x0a) lines++;
  }
  return lines;
}

function parseLine(line: string): { entry: AuditEntry } | { error: string } {
  if (line === '') return { error: 'empty line' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: 'not JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { error: 'not a JSON object' };
  const entry = value as AuditEntry;
  if (!Number.isSafeInteger(entry.seq) || typeof entry.hash !== 'string' || typeof entry.prevHash !== 'string') {
    return { error: 'not an audit entry (seq, prevHash, hash)' };
  }
  return { entry };
}

/** What is wrong with one line given the previous entry's head (undefined: do not check the link). */
export function lineProblem(line: string, previous: AuditHead | undefined): string | undefined {
  const parsed = parseLine(line);
  if ('error' in parsed) return parsed.error;
  const { entry } = parsed;
  if (entryHash(entry as unknown as Record<string, unknown>) !== entry.hash) return 'hash does not match the content: the line was edited';
  if (previous === undefined) return undefined;
  if (entry.prevHash !== previous.hash) {
    return previous.seq === 0
      ? 'prevHash is not the genesis hash: lines before it were removed, or it was inserted'
      : `prevHash does not match the previous line's hash: a line was deleted, inserted or reordered here`;
  }
  if (entry.seq !== previous.seq + 1) return `seq ${entry.seq} follows seq ${previous.seq}`;
  return undefined;
}

/**
 * Consecutive lines from the end of a chain, parsed: each must match its hash and link to the
 * one before it (the first one's link is not checked: what precedes it was not read).
 */
export function tailEntries(lines: readonly string[], where: string): AuditEntry[] {
  const out: AuditEntry[] = [];
  let previous: AuditHead | undefined;
  for (const line of lines) {
    const problem = lineProblem(line, previous);
    if (problem !== undefined) throw new AuditLogError('broken', `${where}: the entry after seq ${previous?.seq ?? '(start of the tail)'} is not valid: ${problem}`);
    const entry = JSON.parse(line) as AuditEntry;
    previous = { seq: entry.seq, hash: entry.hash };
    out.push(entry);
  }
  return out;
}

export type AuditVerification = { ok: boolean; entries: number; firstBadLine?: number; problem?: string };

/**
 * Walks the whole chain. `entries` counts the lines verified before the first problem.
 * With `head`, also checks the log still ends where it was anchored.
 */
export async function verifyAuditLog(path: string, options: { head?: AuditHead } = {}): Promise<AuditVerification> {
  let previous: AuditHead = { seq: 0, hash: GENESIS_HASH };
  let lineNo = 0;
  let rest = '';
  try {
    await stat(path);
    for await (const chunk of createReadStream(path, { encoding: 'utf8' })) {
      rest += chunk as string;
      let start = 0;
      for (let newline = rest.indexOf('\n', start); newline >= 0; newline = rest.indexOf('\n', start)) {
        const line = rest.slice(start, newline);
        start = newline + 1;
        lineNo++;
        const problem = lineProblem(line, previous);
        if (problem !== undefined) return { ok: false, entries: lineNo - 1, firstBadLine: lineNo, problem: `line ${lineNo}: ${problem}` };
        const entry = JSON.parse(line) as AuditEntry;
        previous = { seq: entry.seq, hash: entry.hash };
      }
      rest = rest.slice(start);
    }
  } catch (error) {
    return { ok: false, entries: lineNo, problem: `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (rest !== '') {
    lineNo++;
    return { ok: false, entries: lineNo - 1, firstBadLine: lineNo, problem: `line ${lineNo}: incomplete final line (no newline): a write was cut off or the file was truncated` };
  }
  const expected = options.head;
  if (expected !== undefined && (previous.seq !== expected.seq || previous.hash !== expected.hash)) {
    return {
      ok: false,
      entries: lineNo,
      firstBadLine: lineNo + 1,
      problem: `log ends at seq ${previous.seq} but the anchored head is seq ${expected.seq}: lines were removed from the end or the head does not belong to this log`,
    };
  }
  return { ok: true, entries: lineNo };
}
