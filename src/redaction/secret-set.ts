// Known secret values (the Secrets the bundled objects reference): every form they can take in
// text, one matcher that scrubs them and a leak check over the result.
import { LiteralMatcher } from './literal-matcher.ts';
import { maskPlaceholders, PLACEHOLDER_VOCABULARY } from './placeholders.ts';

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
