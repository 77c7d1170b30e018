// The redactor: takes text (logs, YAML, JSON, audit lines) or parsed values and removes
// everything that could be a credential or prompt text before it is written anywhere. Pure (no
// I/O), never throws, idempotent, and linear in its input.
//
// What it removes, in this order (each replacement counted under its category):
//   1. Known secret values (the Secrets the bundled objects reference), over the whole text
//      first so nothing can split one: exact, JSON-escaped, base64 / base64url at every byte
//      alignment (a value inside a longer encoded blob is found too) and as wrapped lines,
//      URL-encoded (component, URI, form, lowercase hex escapes), hex. Aho–Corasick, one pass.
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
import { createHash } from 'node:crypto';
import { SECRET_KEYS } from '../observability/logger.ts';
import { LiteralMatcher } from './literal-matcher.ts';
import { TOKEN_BODY_LENGTH, TOKEN_PREFIX } from '../gateway/token-format.ts';

export const REDACTION_CATEGORIES = [
  'secretValue',
  'privateKey',
  'gcpPrivateKey',
  'jwt',
  'authorizationHeader',
  'bearerToken',
  'awsAccessKey',
  'awsSecretKey',
  'azureKey',
  'githubToken',
  'gitlabToken',
  'slackToken',
  'openaiKey',
  'anthropicKey',
  'huggingfaceToken',
  'npmToken',
  'executionToken',
  'urlPassword',
  'sensitiveKey',
  'prompt',
] as const;
export type RedactionCategory = (typeof REDACTION_CATEGORIES)[number];
/** Redactions by category; categories with none are absent. */
export type RedactionReport = Partial<Record<RedactionCategory, number>>;

// ---- agent-machine execution tokens -------------------------------------------------------
// The gateway mints one bearer token per execution; its format is defined there, once.
export {
  TOKEN_PREFIX as EXECUTION_TOKEN_PREFIX,
  TOKEN_BYTES as EXECUTION_TOKEN_BYTES,
  TOKEN_BODY_LENGTH as EXECUTION_TOKEN_BODY_LENGTH,
  TOKEN_PATTERN as EXECUTION_TOKEN_PATTERN,
  formatToken as formatExecutionToken,
  isToken as isExecutionToken,
} from '../gateway/token-format.ts';

// ---- placeholders -------------------------------------------------------------------------

export function placeholder(category: RedactionCategory): string {
  return `[REDACTED:${category}]`;
}

/** What prompt text becomes: its SHA-256 and length in characters (code points). */
export function promptDigest(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')} len=${codePoints(text)}`;
}

// Our own replacements, the logger's, and the digests; never redacted again.
const PLACEHOLDER_SOURCE = String.raw`\[REDACTED(?::[A-Za-z]{1,40})?\]|sha256:[0-9a-f]{64} len=[0-9]{1,15}`;
const PLACEHOLDER_SPLIT = new RegExp(PLACEHOLDER_SOURCE, 'g');
const WHOLE_PLACEHOLDER = new RegExp(`^(?:${PLACEHOLDER_SOURCE})$`);
const PROMPT_DIGEST = /^sha256:[0-9a-f]{64} len=[0-9]{1,15}$/;

export function isPlaceholder(text: string): boolean {
  return WHOLE_PLACEHOLDER.test(text);
}

/** Text with every placeholder replaced by a NUL: what a leak check should search. */
export function maskPlaceholders(text: string): string {
  return text.replace(PLACEHOLDER_SPLIT, '\u0000');
}

// A secret value that occurs inside our own placeholders cannot be removed from them; such
// forms are not scrubbed (the final leak check, which masks placeholders, still sees them).
const PLACEHOLDER_VOCABULARY = [...REDACTION_CATEGORIES.map(placeholder), '[REDACTED]', 'sha256:', ' len='].join('\n');

// ---- known secret values ------------------------------------------------------------------

/** Values shorter than this are not scrubbed or checked: they would match all over the text. */
export const MIN_SECRET_LENGTH = 4;
/** Encoded fragments shorter than this are too likely to occur by chance. */
const MIN_FRAGMENT_LENGTH = 8;

export type SecretFormKind = 'plain' | 'json' | 'base64' | 'base64url' | 'base64-fragment' | 'url' | 'hex';

export interface SecretForm {
  text: string;
  kind: SecretFormKind;
}

/**
 * The ways a secret value can show up in text: as is, JSON-escaped, base64 and base64url (whole
 * and, for values inside a longer encoded blob, the characters that depend only on the value
 * at each of the three byte alignments, and 64/76-column lines of wrapped output),
 * URL-encoded (encodeURIComponent, encodeURI, form encoding, lowercase hex escapes) and hex.
 */
export function secretForms(value: string): SecretForm[] {
  const forms = new Map<string, SecretFormKind>();
  const add = (text: string, kind: SecretFormKind, min = MIN_SECRET_LENGTH): void => {
    if (text.length >= min && !forms.has(text)) forms.set(text, kind);
  };
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return [];
  const bytes = Buffer.from(value, 'utf8');
  add(value, 'plain');
  add(JSON.stringify(value).slice(1, -1), 'json');
  const b64 = bytes.toString('base64');
  add(b64, 'base64');
  add(b64.replace(/=+$/, ''), 'base64');
  add(bytes.toString('base64url'), 'base64url');
  for (let offset = 0; offset < 3; offset++) {
    const shifted = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const core = shifted.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6));
    add(core, 'base64-fragment', MIN_FRAGMENT_LENGTH);
    add(core.replace(/\+/g, '-').replace(/\//g, '_'), 'base64-fragment', MIN_FRAGMENT_LENGTH);
  }
  for (const width of [64, 76]) {
    if (b64.length <= width) continue;
    for (let i = 0; i < b64.length; i += width) add(b64.slice(i, i + width), 'base64-fragment', MIN_FRAGMENT_LENGTH);
  }
  const component = safeEncode(encodeURIComponent, value);
  const uri = safeEncode(encodeURI, value);
  // application/x-www-form-urlencoded (URLSearchParams, HTML forms) also escapes !'()~.
  const form = component?.replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
  for (const encoded of [component, uri, component?.replace(/%20/g, '+'), form, safeEncode(encodeURIComponent, b64)]) {
    if (encoded === undefined) continue;
    add(encoded, 'url');
    add(encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()), 'url');
  }
  add(bytes.toString('hex'), 'hex', MIN_FRAGMENT_LENGTH);
  return [...forms].map(([text, kind]) => ({ text, kind }));
}

/** A form that occurs inside our own placeholders cannot be scrubbed without looping. */
export function isScrubbable(form: string): boolean {
  return !PLACEHOLDER_VOCABULARY.includes(form);
}

function safeEncode(fn: (s: string) => string, value: string): string | undefined {
  try {
    return fn(value);
  } catch {
    return undefined; // lone surrogates
  }
}

/**
 * Matchers over every form of every value: `matcher` scrubs (all forms but those inside our
 * placeholder words), leaks() checks (all forms, placeholders masked), remembering which
 * value each form came from.
 */
export class SecretSet {
  readonly matcher: LiteralMatcher;
  readonly #checker: LiteralMatcher;
  readonly #owner: Array<{ value: number; kind: SecretFormKind }>;
  /** How many distinct values are covered. */
  readonly size: number;
  /** Values ignored for being shorter than MIN_SECRET_LENGTH. */
  readonly tooShort: number;

  constructor(values: Iterable<string>) {
    const distinct = [...new Set([...values].filter((v) => typeof v === 'string' && v !== ''))];
    const usable = distinct.filter((v) => v.length >= MIN_SECRET_LENGTH);
    this.tooShort = distinct.length - usable.length;
    this.size = usable.length;
    const patterns: string[] = [];
    this.#owner = [];
    usable.forEach((v, value) => {
      for (const form of secretForms(v)) {
        patterns.push(form.text);
        this.#owner.push({ value, kind: form.kind });
      }
    });
    this.#checker = new LiteralMatcher(patterns);
    this.matcher = new LiteralMatcher(patterns.filter(isScrubbable));
  }

  /**
   * Which values (by index among the usable ones) and forms occur in text outside placeholders.
   * For leak checks: the result never contains the values themselves.
   */
  leaks(text: string): Array<{ value: number; kind: SecretFormKind; scrubbable: boolean }> {
    const found = this.#checker.occurring(maskPlaceholders(text));
    return [...found].map((i) => ({ ...this.#owner[i]!, scrubbable: isScrubbable(this.#checker.patterns[i]!) }));
  }
}

// ---- key names ----------------------------------------------------------------------------

const SENSITIVE_WORDS = new Set([
  'token', 'secret', 'secrets', 'password', 'passwords', 'passwd', 'pwd', 'passphrase', 'credential', 'credentials',
  'cookie', 'cookies', 'apikey', 'apikeys', 'privatekey', 'accesskey', 'secretkey', 'authtoken', 'auth', 'authorization',
  'accountkey', 'sharedaccesskey', 'sharedaccesssignature', 'connectionstring', 'dsn', 'jwt', 'bearer', 'pat',
]);
// Joined (separator-free, lower-case) names containing these are credentials too: GITHUBTOKEN.
const SENSITIVE_JOINED = /token(?!s|iz|is)|secret|passw|passphrase|credential|cookie|apikey|privatekey|accesskey|secretkey/;
// A last word like these names something about a credential, not the credential: secretKeyRef,
// credentialsSecretRef, tokenPath, passwordFile, AWS_ACCESS_KEY_ID, tokensIncluded.
const NOT_A_VALUE = new Set([
  'ref', 'refs', 'name', 'names', 'path', 'paths', 'file', 'files', 'dir', 'type', 'types', 'kind', 'id', 'ids', 'length', 'len',
  'count', 'limit', 'limits', 'ttl', 'expiry', 'expires', 'expiration', 'at', 'url', 'uri', 'urls', 'endpoint', 'header', 'headers',
  'format', 'prefix', 'suffix', 'field', 'fields', 'source', 'mode', 'policy', 'enabled', 'required', 'included', 'present', 'set',
  'configured', 'used', 'usage', 'budget', 'hint', 'label', 'labels', 'selector', 'version', 'algorithm', 'alg', 'size', 'bytes',
  'seconds', 'timeout', 'index', 'hash', 'sha', 'digest',
]);

function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

const sensitiveMemo = new Map<string, boolean>();
// The keys the logger redacts are credentials here too, whatever the word rules say.
const LOGGER_KEYS = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));

/** Whether values of a key (env var, JSON/YAML key, header, query parameter) are credentials. */
export function isSensitiveKey(key: string): boolean {
  if (key.length === 0 || key.length > 256) return false;
  let known = sensitiveMemo.get(key);
  if (known === undefined) {
    if (sensitiveMemo.size >= 8192) sensitiveMemo.clear();
    known = sensitiveKeyUncached(key);
    sensitiveMemo.set(key, known);
  }
  return known;
}

function sensitiveKeyUncached(key: string): boolean {
  if (LOGGER_KEYS.has(key.toLowerCase())) return true;
  // Placeholders in a key name are no words of it.
  const words = keyWords(key.replace(PLACEHOLDER_SPLIT, ' '));
  if (words.length === 0) return false;
  const last = words[words.length - 1]!;
  if (words.length > 1 && NOT_A_VALUE.has(last)) return false;
  if (words[0] === 'public' || words[0] === 'no' || words[0] === 'skip') return false;
  if (words.some((w) => SENSITIVE_WORDS.has(w))) return true;
  // api_key, ssh_key, signing_key, encryption_keys; a bare `key` is too generic (map keys).
  if (words.length > 1 && (last === 'key' || last === 'keys')) return true;
  return SENSITIVE_JOINED.test(words.join(''));
}

function keyCategory(key: string): RedactionCategory {
  const joined = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (joined === 'authorization' || joined === 'proxyauthorization') return 'authorizationHeader';
  if (joined.includes('awssecret') || joined === 'secretaccesskey' || joined === 'awssecretkey') return 'awsSecretKey';
  if (joined === 'accountkey' || joined === 'sharedaccesskey' || joined === 'sharedaccesssignature' || joined.startsWith('azure')) return 'azureKey';
  if (key === 'private_key') return 'gcpPrivateKey';
  if (joined === 'privatekey') return 'privateKey';
  return 'sensitiveKey';
}

// ---- credential formats -------------------------------------------------------------------

interface Format {
  category: RedactionCategory;
  /** Cheap test for the literal anchor: no anchor, no scan. */
  hint: RegExp;
  /** Global scanner. Starts are pinned by a lookbehind so no run is walked twice. */
  scan: RegExp;
  /** Anchored whole-value test (classifies the value of a sensitive key). */
  whole: RegExp;
  /** Random-looking bodies contain digits and letters; words like sk-learn-compat do not. */
  mixed?: boolean;
}

function format(category: RedactionCategory, hint: RegExp, body: string, boundary: string, opts: { mixed?: boolean; flags?: string } = {}): Format {
  const flags = opts.flags ?? '';
  return {
    category,
    hint,
    scan: new RegExp(`(?<!${boundary})(?:${body})(?!${boundary})`, `g${flags}`),
    whole: new RegExp(`^(?:${body})$`, flags),
    ...(opts.mixed ? { mixed: true } : {}),
  };
}

const W = '[A-Za-z0-9_-]';
const AWS_PREFIXES = 'AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA';
// Order matters where prefixes overlap: sk-ant- before sk-.
const FORMATS: readonly Format[] = [
  format('executionToken', new RegExp(TOKEN_PREFIX), `${TOKEN_PREFIX}${W}{${TOKEN_BODY_LENGTH}}`, W),
  format('anthropicKey', /sk-ant-/, `sk-ant-${W}{20,}`, W),
  format('openaiKey', /sk-/, `sk-(?:proj-|svcacct-|admin-)?${W}{20,}`, W, { mixed: true }),
  format('githubToken', /gh[pousr]_|github_pat_/, 'gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}', W),
  format('gitlabToken', /gl[a-z]{1,4}t-/, `(?:glpat|gldt|glrt|glptt|glsoat|glcbt)-${W}{20,}`, W),
  format('slackToken', /xox/, 'xox[abposr]-[A-Za-z0-9-]{10,}', W),
  format('huggingfaceToken', /hf_/, 'hf_[A-Za-z0-9]{30,}', W),
  format('npmToken', /npm_/, 'npm_[A-Za-z0-9]{36,}', W),
  format('awsAccessKey', /A[KSBCGIRPN][A-Z]A/, `(?:${AWS_PREFIXES})[A-Z0-9]{16}`, '[A-Za-z0-9]'),
  format('jwt', /eyJ/, `eyJ${W}{4,}\\.eyJ${W}{4,}\\.${W}*`, '[A-Za-z0-9_.-]'),
];
// Any anchor of the format rules; most text has none and skips them all.
const PATTERN_HINT = /PRIVATE KEY|amx_|sk-|gh[pousr]_|github_pat_|gl[a-z]{1,4}t-|xox|hf_|npm_|A[KSBCGIRPN][A-Z]A|eyJ|bearer|:\/\/|sig=/i;
// A key-value needs a separator (or a --flag).
const KEY_VALUE_HINT = /[=:]|--/;

function classifyValue(value: string, fallback: RedactionCategory): RedactionCategory {
  if (fallback === 'authorizationHeader') return fallback;
  for (const f of FORMATS) if (f.whole.test(value) && (!f.mixed || isMixed(value))) return f.category;
  if (/^-----BEGIN [A-Z0-9 ]{0,64}PRIVATE KEY/.test(value)) return fallback === 'gcpPrivateKey' ? fallback : 'privateKey';
  return fallback;
}

function isMixed(token: string): boolean {
  return /[0-9]/.test(token) && /[A-Za-z]/.test(token);
}

// ---- the pipeline -------------------------------------------------------------------------

export interface RedactorOptions {
  /** Values that must not appear in the output (the Secrets the bundled objects reference). */
  secretValues?: Iterable<string>;
  /** A SecretSet built before (shared between redactors of one export); wins over secretValues. */
  secretSet?: SecretSet;
}

export interface RedactionResult {
  ok: boolean;
  /** The redacted text; '' when !ok (nothing unredacted is ever handed back). */
  text: string;
  counts: RedactionReport;
  /** Why redaction failed (an internal error): the caller must fail closed. */
  error?: string;
}

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
  readonly errors: string[] = [];
  readonly #counts = new Map<RedactionCategory, number>();

  constructor(opts: RedactorOptions = {}) {
    this.secrets = opts.secretSet ?? new SecretSet(opts.secretValues ?? []);
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
    const text = join(this.#mapPieces(splitPlaceholders(input), (s, out) => this.#knownSecrets(s, out)));
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

function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) (n--, i++);
    }
  }
  return n;
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
