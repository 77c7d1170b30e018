// The redactor: takes text (logs, YAML, JSON, audit lines) or parsed values and removes
// everything that could be a credential or prompt text before it is written anywhere. Pure (no
// I/O), never throws, idempotent, and linear in its input.
//
// What it removes, in this order (each replacement counted under its category):
//   1. Known secret values (the Secrets the bundled objects reference), over the whole text
//      first so nothing can split one: exact, JSON-escaped, base64 / base64url at every byte
//      alignment (a value inside a longer encoded blob is found too) and as wrapped lines,
//      URL-encoded (component, URI, form, lowercase hex escapes), hex. Aho–Corasick, one pass.
//      Then known prompt text (what the gateway forwarded for the execution, prompt-matcher.ts),
//      whole or any stretch of it, also over the whole text: replaced by its digest.
//   2. JSON documents, whole or one per line after a prefix: parsed and walked, so escapes
//      cannot hide anything and key names are known exactly; every string in them goes
//      through this whole list again (JSON in JSON is followed a few levels deep).
//   3. Prompt and completion text (prompt, completion, input, messages[].content,
//      choices[].text, choices[].message.content, delta.content, ...): replaced by
//      `sha256:<hex> len=<n>`, so two bundles can still tell whether they saw the same prompt.
//      Also in JSON lines that do not parse (a log tail cut mid-line).
//   4. Values of keys named like credentials (token, secret, password, api_key, cookie, the
//      logger's SECRET_KEYS, ...) in env (KEY=v), JSON, YAML (also block scalars), query
//      strings and --flags; an Authorization value keeps its scheme (Bearer [REDACTED:...]).
//      aws_secret_access_key, Azure AccountKey/SharedAccessKey and GCP service-account
//      private_key get their own categories; a value in a known format is counted as that.
//   5. PEM private key blocks (also cut ones: a log tail may start inside a key).
//   6. Credential formats: agent-machine execution tokens, Anthropic, OpenAI, GitHub, GitLab,
//      Slack, Hugging Face, npm, AWS access key ids, JWTs, Bearer tokens, passwords in URLs
//      (scheme://user:pass@host), Azure SAS signatures (sig=).
//
// Replacements are `[REDACTED:<category>]` or the prompt digest. Both (and the logger's
// `[REDACTED]`) are recognised on input and never looked into again, which is what makes
// redacting twice a no-op. Every pass is a scan with literal anchors and lookbehinds that
// stop a pattern from restarting inside a run it already walked, so adversarial inputs (a
// megabyte of 'a', of base64, of quotes) stay linear; the unit tests time them.
import { classifyValue, FORMATS, isMixed, KEY_VALUE_HINT, PATTERN_HINT, type Format } from './credential-formats.ts';
import { isPlaceholder, placeholder, PLACEHOLDER_SPLIT, PROMPT_DIGEST, promptDigest, REDACTION_CATEGORIES, type RedactionCategory, type RedactionReport } from './placeholders.ts';
import type { PromptMatcher } from './prompt-matcher.ts';
import { MIN_SECRET_LENGTH, SecretSet } from './secret-set.ts';
import { isSensitiveKey, keyCategory } from './sensitive-keys.ts';

// ---- the pipeline -------------------------------------------------------------------------

export interface RedactorOptions {
  /** Values that must not appear in the output (the Secrets the bundled objects reference). */
  secretValues?: Iterable<string>;
  /** A SecretSet built before (shared between redactors of one export); wins over secretValues. */
  secretSet?: SecretSet;
  /** Prompt text known to have been sent (the gateway's, per execution): removed wherever it shows. */
  prompts?: PromptMatcher;
}

export interface RedactionResult {
  ok: boolean;
  /** The redacted text; '' when !ok (nothing unredacted is ever handed back). */
  text: string;
  counts: RedactionReport;
  /** Why redaction failed (an internal error): the caller must fail closed. */
  error?: string;
}

/** Longer command arguments are free text (prompt-bearing), whatever they look like. */
export const MAX_READABLE_ARGUMENT = 64;
/** Nested JSON-in-strings is followed this deep; deeper strings get the text rules only. */
const MAX_JSON_NESTING = 6;
/** JSON structure deeper than this is treated as text (keeps the walk off the stack limit). */
const MAX_JSON_DEPTH = 200;
/** Lines longer than this are not parsed as JSON (the text rules still apply). */
const MAX_JSON_LINE = 4 * 1024 * 1024;

type Piece = { t: string; keep: boolean };

class TooDeep extends Error {}

/**
 * A redactor for one export: it knows the secret values to remove and adds up what it removed.
 * Use text() for text and value() for parsed JSON/YAML; neither ever throws: an internal error
 * is recorded in `errors` and the input comes back fully replaced, so a caller that forgets to
 * check still leaks nothing.
 */
export class Redactor {
  readonly secrets: SecretSet;
  readonly prompts: PromptMatcher | undefined;
  readonly errors: string[] = [];
  readonly #counts = new Map<RedactionCategory, number>();

  constructor(opts: RedactorOptions = {}) {
    this.secrets = opts.secretSet ?? new SecretSet(opts.secretValues ?? []);
    this.prompts = opts.prompts;
  }

  /** Redactions so far, by category. */
  report(): RedactionReport {
    const out: RedactionReport = {};
    for (const c of REDACTION_CATEGORIES) {
      const n = this.#counts.get(c);
      if (n) out[c] = n;
    }
    return out;
  }

  get failed(): boolean {
    return this.errors.length > 0;
  }

  text(input: string): string {
    try {
      return this.#text(typeof input === 'string' ? input : String(input), 0);
    } catch (err) {
      this.errors.push(`redactor failed on text: ${err instanceof Error ? err.message : String(err)}`);
      return placeholder('secretValue');
    }
  }

  /** A deep copy of a JSON-like value with credentials and prompt text removed. */
  value<T>(input: T): T {
    try {
      return this.#value(input, 0, 0, false) as T;
    } catch (err) {
      this.errors.push(`redactor failed on a value: ${err instanceof Error ? err.message : String(err)}`);
      return placeholder('secretValue') as T;
    }
  }

  /**
   * A container command/args element or env value, which may carry a prompt (`agent -p "…"`):
   * flags and short single words stay readable, free text (blanks, or longer than
   * MAX_READABLE_ARGUMENT) becomes the digest of its redacted text, like prompt fields;
   * `--flag=value` keeps the flag.
   */
  argument(arg: string): string {
    if (arg === '' || isPlaceholder(arg) || PROMPT_DIGEST.test(arg)) return arg;
    const flag = /^(--?[A-Za-z0-9][A-Za-z0-9_.-]{0,63}=)([^]*)$/.exec(arg);
    if (flag) return flag[1]! + this.argument(flag[2]!);
    if (arg.length <= MAX_READABLE_ARGUMENT && !/\s/.test(arg)) return arg;
    // Credentials out first: a digest of text around a weak secret would let a guess be confirmed.
    const clean = this.text(arg);
    if (isPlaceholder(clean)) return clean;
    this.#count('prompt');
    return promptDigest(clean);
  }

  #count(category: RedactionCategory, n = 1): void {
    this.#counts.set(category, (this.#counts.get(category) ?? 0) + n);
  }

  #redacted(category: RedactionCategory): Piece {
    this.#count(category);
    return { t: placeholder(category), keep: true };
  }

  // -- text --

  #text(input: string, nesting: number): string {
    if (input === '') return input;
    // Known values first, over the whole text: nothing may split one before it is found
    // (a value can contain JSON syntax, quotes, line breaks).
    let known = this.#mapPieces(splitPlaceholders(input), (s, out) => this.#knownSecrets(s, out));
    if (this.prompts) known = this.#mapPieces(known, (s, out) => this.#knownPrompts(s, out));
    const text = join(known);
    const whole = this.#wholeJson(text, nesting);
    if (whole !== undefined) return whole;
    // Then JSON, on the text as it stands: a JSON line that carries a placeholder in a string
    // still parses as one document on the next run.
    let pieces = this.#mapPieces([{ t: text, keep: false }], (s, out) => this.#jsonLines(s, nesting, out));
    // Prompt fields in what did not parse, placeholders included: hashed whole, never in parts.
    pieces = this.#mapPieces(pieces, (s, out) => this.#promptFields(s, out));
    pieces = this.#mapPieces(pieces, (s, out) => {
      for (const p of splitPlaceholders(s)) out.push(p);
    });
    pieces = this.#mapPieces(pieces, (s, out, lineStart) => (KEY_VALUE_HINT.test(s) ? this.#keyValues(s, out, lineStart) : out.push({ t: s, keep: false })));
    pieces = this.#patterns(pieces);
    return join(pieces);
  }

  /** The format rules (PEM, credential formats, bearer, URL passwords, SAS), each only where its anchor occurs. */
  #patterns(pieces: Piece[]): Piece[] {
    let any = false;
    for (const p of pieces) if (!p.keep && PATTERN_HINT.test(p.t)) any = true;
    if (!any) return pieces;
    pieces = this.#mapPieces(pieces, (s, out) => this.#privateKeys(s, out));
    for (const f of FORMATS) pieces = this.#mapPieces(pieces, (s, out) => (f.hint.test(s) ? this.#format(f, s, out) : out.push({ t: s, keep: false })));
    pieces = this.#mapPieces(pieces, (s, out) => (/bearer/i.test(s) ? this.#bearer(s, out) : out.push({ t: s, keep: false })));
    pieces = this.#mapPieces(pieces, (s, out) => this.#urlPasswords(s, out));
    pieces = this.#mapPieces(pieces, (s, out) => (s.includes('sig=') ? this.#sasSignatures(s, out) : out.push({ t: s, keep: false })));
    return pieces;
  }

  /**
   * Applies fn to the pieces not yet redacted. lineStart says whether the piece begins a line
   * of the whole text: a piece that follows a placeholder does not, whatever its first char.
   */
  #mapPieces(pieces: Piece[], fn: (s: string, out: Piece[], lineStart: boolean) => void): Piece[] {
    const out: Piece[] = [];
    let lineStart = true;
    for (const p of pieces) {
      if (p.keep || p.t === '') out.push(p);
      else fn(p.t, out, lineStart);
      if (p.t !== '') lineStart = p.t.endsWith('\n');
    }
    return out;
  }

  /** The whole text is one JSON document: walk it, keep its indentation style. */
  #wholeJson(text: string, nesting: number): string | undefined {
    if (nesting >= MAX_JSON_NESTING || text.length > MAX_JSON_LINE) return undefined;
    const first = firstNonSpace(text);
    if (first < 0) return undefined;
    const c = text[first];
    if ((c !== '{' && c !== '[') || text.startsWith('[REDACTED', first)) return undefined;
    const parsed = parseJson(text);
    if (parsed === undefined || parsed === null || typeof parsed !== 'object') return undefined;
    let redacted: unknown;
    try {
      redacted = this.#value(parsed, nesting + 1, 0, false);
    } catch (err) {
      if (err instanceof TooDeep) return undefined;
      throw err;
    }
    if (jsonSame(parsed, redacted)) return text;
    const indent = /\n( +|\t)"/.exec(text)?.[1];
    return JSON.stringify(redacted, null, indent) + (text.endsWith('\n') ? '\n' : '');
  }

  /** `prefix {json}` lines: the JSON part is walked and then kept away from the text rules. */
  #jsonLines(s: string, nesting: number, out: Piece[]): void {
    if (nesting >= MAX_JSON_NESTING || (s.indexOf('{') < 0 && s.indexOf('[') < 0)) {
      out.push({ t: s, keep: false });
      return;
    }
    let plainFrom = 0;
    let lineStart = 0;
    while (lineStart <= s.length) {
      let lineEnd = s.indexOf('\n', lineStart);
      if (lineEnd < 0) lineEnd = s.length;
      const span = this.#jsonSpan(s, lineStart, lineEnd);
      if (span) {
        const [a, b] = span;
        const parsed = parseJson(s.slice(a, b));
        if (parsed !== undefined && parsed !== null && typeof parsed === 'object') {
          let redacted: unknown;
          try {
            redacted = this.#value(parsed, nesting + 1, 0, false);
          } catch (err) {
            if (!(err instanceof TooDeep)) throw err;
            redacted = undefined;
          }
          if (redacted !== undefined) {
            if (a > plainFrom) out.push({ t: s.slice(plainFrom, a), keep: false });
            out.push({ t: jsonSame(parsed, redacted) ? s.slice(a, b) : JSON.stringify(redacted), keep: true });
            plainFrom = b;
          }
        }
      }
      lineStart = lineEnd + 1;
    }
    if (plainFrom < s.length) out.push({ t: s.slice(plainFrom), keep: false });
  }

  /** From the line's first `{`/`[` (not one of our placeholders) to its last `}`/`]`. */
  #jsonSpan(s: string, lineStart: number, lineEnd: number): [number, number] | undefined {
    if (lineEnd - lineStart < 2 || lineEnd - lineStart > MAX_JSON_LINE) return undefined;
    let a = -1;
    for (let i = lineStart; i < lineEnd; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x7b /* { */ || (c === 0x5b /* [ */ && !s.startsWith('[REDACTED', i))) {
        a = i;
        break;
      }
    }
    if (a < 0) return undefined;
    const open = s[a];
    const close = open === '{' ? '}' : ']';
    let b = lineEnd;
    while (b > a && (s[b - 1] === ' ' || s[b - 1] === '\t' || s[b - 1] === '\r')) b--;
    if (s[b - 1] !== close) {
      const last = s.lastIndexOf(close, lineEnd - 1);
      if (last <= a) return undefined;
      b = last + 1;
    }
    return [a, b];
  }

  #knownSecrets(s: string, out: Piece[]): void {
    const regions = this.secrets.matcher.find(s);
    let from = 0;
    for (const r of regions) {
      if (r.start > from) out.push({ t: s.slice(from, r.start), keep: false });
      out.push(this.#redacted('secretValue'));
      from = r.end;
    }
    if (from < s.length) out.push({ t: s.slice(from), keep: false });
  }

  #knownPrompts(s: string, out: Piece[]): void {
    // Prompt text that could not be remembered may be anywhere: nothing can vouch (fail closed).
    if (this.prompts!.saturated) throw new Error('more prompt text was sent than can be remembered to remove it');
    let from = 0;
    for (const r of this.prompts!.find(s)) {
      if (r.start > from) out.push({ t: s.slice(from, r.start), keep: false });
      this.#count('prompt');
      out.push({ t: promptDigest(s.slice(r.start, r.end)), keep: true });
      from = r.end;
    }
    if (from < s.length) out.push({ t: s.slice(from), keep: false });
  }

  /** KEY=value, "key": "value", key: value, key: | block, ?key=value, --key value. */
  #keyValues(s: string, out: Piece[], lineStart: boolean): void {
    const hint = /token|secret|passw|pwd|passphrase|credential|cookie|key|auth|dsn|pat|jwt|bearer|connection/gi;
    let emitted = 0;
    let scanned = 0;
    let m: RegExpExecArray | null;
    while ((m = hint.exec(s)) !== null) {
      const hit = m.index;
      if (hit < scanned) continue;
      let a = hit;
      while (a > scanned && isKeyChar(s.charCodeAt(a - 1)) && hit - a < 256) a--;
      let b = hit + m[0].length;
      while (b < s.length && isKeyChar(s.charCodeAt(b)) && b - a < 256) b++;
      if ((a > 0 && isKeyChar(s.charCodeAt(a - 1))) || (b < s.length && isKeyChar(s.charCodeAt(b)))) {
        // Inside a token that was already looked at, or one too long to be a key: skip the run.
        while (b < s.length && isKeyChar(s.charCodeAt(b))) b++;
        scanned = b;
        hint.lastIndex = b;
        continue;
      }
      scanned = b;
      hint.lastIndex = b;
      let keyStart = a;
      let dashes = 0;
      while (keyStart < b && s.charCodeAt(keyStart) === 0x2d /* - */) (keyStart++, dashes++);
      const key = s.slice(keyStart, b);
      if (!/^[A-Za-z_]/.test(key) || !isSensitiveKey(key)) continue;
      const found = this.#valueAfterKey(s, a, b, dashes >= 2, lineStart);
      if (!found) continue;
      const { start, end } = found;
      let value = s.slice(start, end);
      const category = keyCategory(key);
      const keepPrefix = category === 'authorizationHeader' ? (AUTH_SCHEME.exec(value)?.[0].length ?? 0) : 0;
      value = value.slice(keepPrefix);
      if (!isRedactableValue(value)) continue;
      if (start + keepPrefix > emitted) out.push({ t: s.slice(emitted, start + keepPrefix), keep: false });
      out.push(this.#redacted(classifyValue(value.trim(), category)));
      emitted = end;
      scanned = end;
      hint.lastIndex = end;
    }
    if (emitted < s.length) out.push({ t: s.slice(emitted), keep: false });
  }

  /** Where the value after a key (ending at b) starts and ends, if a separator follows. */
  #valueAfterKey(s: string, a: number, b: number, flag: boolean, lineStart: boolean): { start: number; end: number } | undefined {
    let i = b;
    if (s.startsWith('\\"', i)) i += 2;
    else if (s[i] === '"' || s[i] === "'") i++;
    const afterKey = i;
    i = skipBlanks(s, i);
    const sep = s[i];
    if (sep === ':' || sep === '=') {
      if (s[i + 1] === sep || (sep === ':' && s[i + 1] === '/' && s[i + 2] === '/')) return undefined; // ==, ::, scheme://
      i = skipBlanks(s, i + 1);
    } else if (flag && i > afterKey && i < s.length && s[i] !== '-' && s[i] !== '\n') {
      // --password hunter2
    } else {
      return undefined;
    }
    if (i >= s.length) return undefined;
    const c = s[i]!;
    const eol = lineEnd(s, i);
    if (c === '"' || (c === '\\' && s[i + 1] === '"')) {
      const escaped = c === '\\';
      const start = i + (escaped ? 2 : 1);
      let j = start;
      while (j < eol) {
        const ch = s.charCodeAt(j);
        if (escaped) {
          if (ch === 0x5c && s.charCodeAt(j + 1) === 0x22) break;
          if (ch === 0x5c) j++;
        } else {
          if (ch === 0x22) break;
          if (ch === 0x5c) j++;
        }
        j++;
      }
      return { start, end: Math.min(j, eol) };
    }
    if (c === "'") {
      const close = s.indexOf("'", i + 1);
      return { start: i + 1, end: close >= 0 && close < eol ? close : eol };
    }
    if (c === '\n' || c === '\r' || c === '{' || c === '[' || c === '(' || c === '<') return undefined;
    const atLineStart = sep === ':' && onlyIndentBefore(s, a, lineStart);
    if (atLineStart && /^[|>][-+]?[0-9]?[ \t]*(?:#.*)?$/.test(s.slice(i, eol).replace(/\r$/, ''))) {
      // A YAML block scalar: the value is the following lines indented deeper than the key.
      const indent = indentOf(s, a);
      let end = eol;
      let next = eol + 1;
      while (next < s.length) {
        const e = lineEnd(s, next);
        const line = s.slice(next, e);
        if (line.trim() !== '' && indentWidth(line) <= indent) break;
        end = e;
        next = e + 1;
      }
      if (end === eol) return undefined;
      return { start: eol + 1, end };
    }
    if (atLineStart) return { start: i, end: s[eol - 1] === '\r' ? eol - 1 : eol };
    let end = i;
    while (end < eol && !VALUE_STOP.has(s.charCodeAt(end))) end++;
    // `Authorization: Bearer xyz` inside a line: the scheme alone is not the value, and a
    // scheme with nothing after it (already redacted) is no value at all.
    if (AUTH_SCHEME_WORD.test(s.slice(i, end))) {
      let t = skipBlanks(s, end);
      if (t === end) return { start: i, end };
      const tokenStart = t;
      while (t < eol && !VALUE_STOP.has(s.charCodeAt(t))) t++;
      if (t === tokenStart) return undefined;
      end = t;
    }
    return { start: i, end };
  }

  /** "prompt": "...", and "content"/"text" on lines that look like chat messages. */
  #promptFields(s: string, out: Piece[]): void {
    if (s.indexOf('"') < 0) {
      out.push({ t: s, keep: false });
      return;
    }
    // The closing quote is optional: a cut log line still has its prompt hashed to the end.
    const re = /"(prompt|completion|input|content|text)"[ \t]*:[ \t]*"((?:[^"\\\n]|\\.)*)("?)/g;
    let emitted = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      if (m[1] === 'text') {
        const line = s.slice(s.lastIndexOf('\n', m.index) + 1, lineEnd(s, m.index));
        if (!/"(?:role|messages|choices|delta|content)"/.test(line)) continue;
      }
      const raw = m[2]!;
      if (raw === '' || isPlaceholder(raw)) continue;
      let decoded: string;
      try {
        decoded = JSON.parse(`"${raw}"`) as string;
      } catch {
        decoded = raw;
      }
      const valueStart = m.index + m[0].length - m[3]!.length - raw.length;
      if (valueStart > emitted) out.push({ t: s.slice(emitted, valueStart), keep: false });
      this.#count('prompt');
      out.push({ t: promptDigest(decoded), keep: true });
      emitted = valueStart + raw.length;
    }
    if (emitted < s.length) out.push({ t: s.slice(emitted), keep: false });
  }

  /** PEM private keys: BEGIN..END, BEGIN to the end (cut log), or ..END (log starting mid-key). */
  #privateKeys(s: string, out: Piece[]): void {
    if (s.indexOf('PRIVATE KEY') < 0) {
      out.push({ t: s, keep: false });
      return;
    }
    const marker = /-----(BEGIN|END) ([A-Z0-9 ]{0,64})-----/g;
    let emitted = 0;
    let open = -1;
    let m: RegExpExecArray | null;
    while ((m = marker.exec(s)) !== null) {
      if (!m[2]!.includes('PRIVATE KEY')) continue;
      if (m[1] === 'BEGIN') {
        if (open < 0) open = m.index;
        continue;
      }
      let start = open;
      if (start < 0) {
        // No BEGIN: walk back over the base64 body (and literal \n of JSON strings).
        start = pemBodyStart(s, m.index, emitted);
      }
      if (start > emitted) out.push({ t: s.slice(emitted, start), keep: false });
      out.push(this.#redacted('privateKey'));
      emitted = m.index + m[0].length;
      open = -1;
    }
    if (open >= 0) {
      if (open > emitted) out.push({ t: s.slice(emitted, open), keep: false });
      out.push(this.#redacted('privateKey'));
      emitted = s.length;
    }
    if (emitted < s.length) out.push({ t: s.slice(emitted), keep: false });
  }

  #format(f: Format, s: string, out: Piece[]): void {
    this.#replaceAll(f.scan, s, out, (m) => (f.mixed && !isMixed(m[0]) ? undefined : { start: m.index, end: m.index + m[0].length, category: f.category }));
  }

  #bearer(s: string, out: Piece[]): void {
    this.#replaceAll(/(?<![A-Za-z0-9_-])bearer[ \t]+([A-Za-z0-9._~+\/=-]{8,})/gi, s, out, (m) => {
      const token = m[1]!;
      return { start: m.index + m[0].length - token.length, end: m.index + m[0].length, category: 'bearerToken' };
    });
  }

  #urlPasswords(s: string, out: Piece[]): void {
    if (s.indexOf('://') < 0) {
      out.push({ t: s, keep: false });
      return;
    }
    this.#replaceAll(/:\/\/([^\s\/@:"'<>]*):([^\s\/@"'<>]+)@/g, s, out, (m) => {
      const pass = m[2]!;
      const start = m.index + 3 + m[1]!.length + 1;
      return { start, end: start + pass.length, category: 'urlPassword' };
    });
  }

  #sasSignatures(s: string, out: Piece[]): void {
    this.#replaceAll(/[?&;]sig=([A-Za-z0-9%+\/=]{8,})/g, s, out, (m) => {
      const sig = m[1]!;
      return { start: m.index + m[0].length - sig.length, end: m.index + m[0].length, category: 'azureKey' };
    });
  }

  #replaceAll(re: RegExp, s: string, out: Piece[], pick: (m: RegExpExecArray) => { start: number; end: number; category: RedactionCategory } | undefined): void {
    re.lastIndex = 0;
    let emitted = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      const r = pick(m);
      if (!r || r.start < emitted) continue;
      if (r.start > emitted) out.push({ t: s.slice(emitted, r.start), keep: false });
      out.push(this.#redacted(r.category));
      emitted = r.end;
    }
    if (emitted < s.length) out.push({ t: s.slice(emitted), keep: false });
  }

  // -- values --

  /**
   * promptCtx: inside something whose strings are all prompt text. Objects with a `role`
   * (chat messages), choices[] entries and their message/delta carry prompt text in content/
   * text/arguments.
   */
  #value(v: unknown, nesting: number, depth: number, promptCtx: boolean): unknown {
    if (depth > MAX_JSON_DEPTH) throw new TooDeep('value nested too deeply');
    if (typeof v === 'string') {
      if (promptCtx) return this.#promptString(v);
      if (this.#clean.has(v)) return v;
      const out = this.#text(v, nesting);
      if (out === v) this.#remember(v);
      return out;
    }
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => this.#value(x, nesting, depth + 1, promptCtx));
    const obj = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const chat = typeof obj.role === 'string';
    // {name: API_KEY, value: ...}: the name decides about the value, as redacted (so a second
    // pass, which sees the redacted name, decides the same).
    const nameKey = promptCtx ? undefined : typeof obj.name === 'string' ? 'name' : typeof obj.key === 'string' ? 'key' : undefined;
    const envName = nameKey !== undefined ? (this.#value(obj[nameKey], nesting, depth + 1, false) as string) : undefined;
    const envSensitive = envName !== undefined && isSensitiveKey(envName);
    for (const [rawKey, child] of Object.entries(obj)) {
      const key = this.#key(rawKey);
      if (rawKey === nameKey) {
        out[key] = envName;
      } else if (promptCtx && PROMPT_PART_LABELS.has(rawKey) && typeof child === 'string') {
        out[key] = this.#text(child, nesting); // {type: "text", text: ...}: the label is no prompt
      } else if (promptCtx || PROMPT_KEYS.has(rawKey) || (chat && CHAT_TEXT_KEYS.has(rawKey))) {
        out[key] = this.#value(child, nesting, depth + 1, true);
      } else if (rawKey === 'messages' && Array.isArray(child)) {
        out[key] = child.map((m) => this.#value(m, nesting, depth + 1, false));
      } else if (rawKey === 'choices' && Array.isArray(child)) {
        out[key] = child.map((c) => this.#choice(c, nesting, depth + 1));
      } else if (isSensitiveKey(key) && isScalarSecret(child)) {
        // The redacted key decides, so a key that was itself a credential stays consistent.
        out[key] = this.#secretScalar(child as string | number, keyCategory(key));
      } else if (isSensitiveKey(key) && Array.isArray(child)) {
        out[key] = child.map((x) => (isScalarSecret(x) ? this.#secretScalar(x as string | number, keyCategory(key)) : this.#value(x, nesting, depth + 1, false)));
      } else if (envSensitive && (rawKey === 'value' || rawKey === 'val') && isScalarSecret(child)) {
        out[key] = this.#secretScalar(child as string | number, keyCategory(envName!));
      } else {
        out[key] = this.#value(child, nesting, depth + 1, false);
      }
    }
    return out;
  }

  #choice(c: unknown, nesting: number, depth: number): unknown {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) return this.#value(c, nesting, depth, false);
    const out: Record<string, unknown> = {};
    for (const [rawKey, child] of Object.entries(c as Record<string, unknown>)) {
      const key = this.#key(rawKey);
      if (rawKey === 'text') out[key] = this.#value(child, nesting, depth + 1, true);
      else if ((rawKey === 'message' || rawKey === 'delta') && child !== null && typeof child === 'object' && !Array.isArray(child)) {
        const msg: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(child as Record<string, unknown>)) {
          msg[this.#key(k)] = CHAT_TEXT_KEYS.has(k) ? this.#value(x, nesting, depth + 2, true) : this.#value(x, nesting, depth + 2, false);
        }
        out[key] = msg;
      } else out[key] = this.#value(child, nesting, depth + 1, false);
    }
    return out;
  }

  /** Keys may hold anything too (a token used as a map key): the format rules apply to them. */
  #key(key: string): string {
    if (key.length < MIN_SECRET_LENGTH || this.#clean.has(key)) return key;
    let pieces = splitPlaceholders(key);
    pieces = this.#mapPieces(pieces, (s, out) => this.#knownSecrets(s, out));
    const result = join(this.#patterns(pieces));
    if (result === key) this.#remember(key);
    return result;
  }

  /** Strings known to come out unchanged (keys and short values repeat a lot in JSON). */
  readonly #clean = new Set<string>();

  #remember(s: string): void {
    // Strings that could parse as JSON are redacted differently at different nesting depths.
    if (s.length > 256 || s.includes('{') || s.includes('[')) return;
    if (this.#clean.size >= 16384) this.#clean.clear();
    this.#clean.add(s);
  }

  #promptString(s: string): string {
    if (s === '' || PROMPT_DIGEST.test(s) || isPlaceholder(s)) return s;
    this.#count('prompt');
    return promptDigest(s);
  }

  /** The value of a sensitive key: replaced whole (an Authorization value keeps its scheme). */
  #secretScalar(v: string | number, category: RedactionCategory): string {
    const s = String(v);
    const scheme = category === 'authorizationHeader' ? (AUTH_SCHEME.exec(s)?.[0] ?? '') : '';
    const rest = s.slice(scheme.length).trim();
    if (!isRedactableValue(rest)) return s;
    const known = this.secrets.matcher.find(rest);
    const isKnown = known.length === 1 && known[0]!.start === 0 && known[0]!.end === rest.length;
    const cat = isKnown ? 'secretValue' : classifyValue(rest, category);
    this.#count(cat);
    return scheme + placeholder(cat);
  }
}

const AUTH_SCHEME = /^(?:Bearer|Basic|Token|Digest|Negotiate|Bot|ApiKey|AWS4-HMAC-SHA256)[ \t]+/i;
const AUTH_SCHEME_WORD = /^(?:Bearer|Basic|Token|Digest|Negotiate|Bot|ApiKey|AWS4-HMAC-SHA256)$/i;
const PROMPT_KEYS = new Set(['prompt', 'prompts', 'completion', 'completions', 'input', 'inputs']);
// Inside prompt content parts these label the part rather than carry text.
const PROMPT_PART_LABELS = new Set(['type', 'role', 'id', 'index', 'name', 'tool_call_id', 'finish_reason', 'media_type', 'detail']);
const CHAT_TEXT_KEYS = new Set(['content', 'text', 'arguments', 'reasoning_content', 'refusal']);

function isScalarSecret(v: unknown): boolean {
  return (typeof v === 'string' && isRedactableValue(v)) || (typeof v === 'number' && Number.isFinite(v));
}

/** Not worth (or not possible) redacting: empty, booleans, null, variable references, masks. */
function isRedactableValue(value: string): boolean {
  const v = value.trim();
  if (v === '' || isPlaceholder(v)) return false;
  if (/^(?:true|false|null|none|nil|~|undefined)$/i.test(v)) return false;
  if (/^\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$/.test(v)) return false;
  // printf directives and template references: `token=%s\n`, `{{ .Values.token }}`.
  if (/^(?:%[-+ #0-9.*]*[a-zA-Z]|\\[ntr])+$/.test(v) || /^\{\{[^{}]*\}\}$/.test(v)) return false;
  if (/^[*xX•.]+$/.test(v)) return false;
  return true;
}

// Characters that end an unquoted value in the middle of a line.
const VALUE_STOP = new Set([...' \t\r\n,;&"\'<>)}]`'].map((c) => c.charCodeAt(0)));

function isKeyChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d || c === 0x2e;
}

function isPemBodyChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || c === 0x3d || c === 0x0a || c === 0x0d || c === 0x5c;
}

/**
 * Start of the base64 body before an END marker at `end`: base64, line breaks (also the
 * literal \n of a JSON string) and indentation, not further back than `floor`.
 */
function pemBodyStart(s: string, end: number, floor: number): number {
  let i = end;
  while (i > floor) {
    const c = s.charCodeAt(i - 1);
    if (isPemBodyChar(c)) {
      i--;
      continue;
    }
    if (c !== 0x20 && c !== 0x09) break;
    // Blanks only count as indentation: all of them back to a line break.
    let j = i - 1;
    while (j > floor && (s.charCodeAt(j - 1) === 0x20 || s.charCodeAt(j - 1) === 0x09)) j--;
    if (j > floor && s.charCodeAt(j - 1) !== 0x0a) break;
    if (j === floor && floor > 0) break;
    i = j;
  }
  return i;
}

function skipBlanks(s: string, i: number): number {
  let n = 0;
  while (i < s.length && (s[i] === ' ' || s[i] === '\t') && n < 64) (i++, n++);
  return i;
}

function lineEnd(s: string, i: number): number {
  const e = s.indexOf('\n', i);
  return e < 0 ? s.length : e;
}

/** Only indentation (and a YAML list dash) between the line start and i. */
function onlyIndentBefore(s: string, i: number, pieceAtLineStart: boolean): boolean {
  for (let j = i - 1; j >= 0; j--) {
    const c = s[j];
    if (c === '\n') return true;
    if (c !== ' ' && c !== '\t' && c !== '-') return false;
  }
  return pieceAtLineStart;
}

function indentOf(s: string, i: number): number {
  const start = s.lastIndexOf('\n', i - 1) + 1;
  return indentWidth(s.slice(start, i));
}

function indentWidth(line: string): number {
  let n = 0;
  while (n < line.length && (line[n] === ' ' || line[n] === '\t' || line[n] === '-')) n++;
  return n;
}

function firstNonSpace(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
  }
  return -1;
}

function join(pieces: Piece[]): string {
  let s = '';
  for (const p of pieces) s += p.t;
  return s;
}

function splitPlaceholders(text: string): Piece[] {
  const pieces: Piece[] = [];
  PLACEHOLDER_SPLIT.lastIndex = 0;
  let from = 0;
  let m: RegExpExecArray | null;
  while ((m = PLACEHOLDER_SPLIT.exec(text)) !== null) {
    if (m.index > from) pieces.push({ t: text.slice(from, m.index), keep: false });
    pieces.push({ t: m[0], keep: true });
    from = m.index + m[0].length;
  }
  if (from < text.length) pieces.push({ t: text.slice(from), keep: false });
  return pieces;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function jsonSame(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonSame(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && jsonSame((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** One-shot text redaction. Never throws; on an internal error ok is false and text is ''. */
export function redact(text: string, opts: RedactorOptions = {}): RedactionResult {
  let r: Redactor;
  try {
    r = new Redactor(opts);
  } catch (err) {
    return { ok: false, text: '', counts: {}, error: err instanceof Error ? err.message : String(err) };
  }
  const out = r.text(text);
  if (r.failed) return { ok: false, text: '', counts: r.report(), error: r.errors.join('; ') };
  return { ok: true, text: out, counts: r.report() };
}
