// The prompt text the gateway forwarded, per execution, kept only as fingerprints
// (src/redaction/prompt-matcher.ts) and only in this process's memory, so the redactor can
// remove it from what the controller writes about the execution: its containers' log tails,
// status messages, Events, audit records and diagnostics bundles. Never written anywhere.
//
// Dropped when the execution ends, but not before every container record of it has finished:
// a cancelled execution is Cancelled while its containers still stop, and their log tails are
// read (and redacted) after that. A controller restart forgets everything; what was written
// before was redacted when it was written.
import { hash } from 'node:crypto';
import { PromptFingerprints, unionMatcher, type PromptMatcher } from '../redaction/prompt-matcher.ts';

/** Whole texts an execution already sent, remembered by digest (per execution, at most). */
const MAX_SENT_DIGESTS = 4096;

type Remembered = { fingerprints: PromptFingerprints; sent: Set<string> };

export class PromptMemory {
  readonly #byExecution = new Map<string, Remembered>();

  /**
   * Remembers the texts an execution's call forwarded. A text it already sent (an agent resends
   * its system prompt and its conversation so far on every call) is fingerprinted already and is
   * not scanned again: a SHA-256 of it, in native code, is what each repeat costs.
   */
  remember(executionUid: string, texts: readonly string[]): void {
    if (texts.length === 0) return;
    let r = this.#byExecution.get(executionUid);
    if (!r) this.#byExecution.set(executionUid, (r = { fingerprints: new PromptFingerprints(), sent: new Set() }));
    for (const t of texts) {
      const digest = hash('sha256', t, 'base64');
      if (r.sent.has(digest)) continue;
      r.fingerprints.add(t);
      // Past the bound, texts are scanned every time, as if never seen.
      if (r.sent.size < MAX_SENT_DIGESTS) r.sent.add(digest);
    }
  }

  forget(executionUid: string): void {
    this.#byExecution.delete(executionUid);
  }

  /** The prompts of these executions, or undefined when none was forwarded. */
  matcher(executionUids: Iterable<string | undefined>): PromptMatcher | undefined {
    const sets: PromptFingerprints[] = [];
    for (const uid of executionUids) {
      const r = uid === undefined ? undefined : this.#byExecution.get(uid);
      if (r) sets.push(r.fingerprints);
    }
    return unionMatcher(sets);
  }

  /** Executions with prompts remembered. */
  get size(): number {
    return this.#byExecution.size;
  }
}

/**
 * The prompt texts of a model call's body, by API: chat messages (content strings and text
 * parts), completions and embeddings prompts/inputs, Anthropic system and messages. Pure.
 */
export function promptTexts(path: string, body: Record<string, unknown>): string[] {
  const out: string[] = [];
  const text = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v !== '') out.push(v);
    } else if (Array.isArray(v)) {
      for (const x of v) text(x);
    } else if (v !== null && typeof v === 'object') {
      const part = v as Record<string, unknown>;
      // {type: "text", text}, tool results' {content}, and tool call arguments.
      for (const k of ['text', 'content', 'arguments', 'input']) if (k in part) text(k === 'input' && typeof part[k] === 'object' ? JSON.stringify(part[k]) : part[k]);
      if (part.function !== null && typeof part.function === 'object') text((part.function as Record<string, unknown>).arguments);
      if (Array.isArray(part.tool_calls)) text(part.tool_calls);
    }
  };
  if (path === '/v1/completions') text(body.prompt);
  else if (path === '/v1/embeddings') text(body.input);
  else {
    text(body.system);
    if (Array.isArray(body.messages)) text(body.messages);
  }
  return out;
}
