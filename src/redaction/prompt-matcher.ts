// Recognises text the gateway forwarded as a prompt when it shows up elsewhere (a container
// that echoes its prompt, a model answer that quotes it), whole or as a partial line, without
// keeping the prompt itself: only 64-bit fingerprints of every window of MIN_PROMPT_FRAGMENT
// normalised characters are kept. Pure, in memory only; the owner decides when it is dropped.
//
// Normalised: ASCII letters lower-cased, whitespace runs (also the escapes \n \t \r of JSON
// and shell output) one space, \" \\ \/ their character, so a prompt re-wrapped, quoted in JSON
// or printed with `echo -e` is still the same stream. A scan keeps two rolling polynomial
// hashes (mod 2^32, different odd bases) over the last MIN_PROMPT_FRAGMENT characters and
// looks each window up: linear in the text, one table probe per character. Any stretch of
// prompt text of at least MIN_PROMPT_FRAGMENT normalised characters is found; shorter ones are
// too likely to occur by chance to be worth removing.
//
// Bounded: at most MAX_PROMPT_WINDOWS distinct windows per set (about that many characters of
// distinct prompt text). Past that the set is `saturated` and later prompt text is not
// recognised: a caller that must vouch for a text withholds it instead (fail closed).

/** Shorter prompt fragments are not recognised. */
export const MIN_PROMPT_FRAGMENT = 24;
/** Windows (≈ characters of distinct prompt text) one set keeps: a table of at most 8 MiB. */
export const MAX_PROMPT_WINDOWS = 1 << 19;

import { placeholder, promptDigest } from './placeholders.ts';

const L = MIN_PROMPT_FRAGMENT;
const B1 = 0x01000193;
const B2 = 0x5bd1e995;
const P1 = powMod32(B1, L);
const P2 = powMod32(B2, L);
const INITIAL_SLOTS = 1 << 10;

export interface PromptRegion {
  start: number;
  end: number;
}

/** What the redactor asks of known prompt text: where it occurs in a text. */
export interface PromptMatcher {
  find(text: string): PromptRegion[];
  /** Some prompt text could not be remembered: nothing can vouch for texts it may be in. */
  readonly saturated: boolean;
}

export class PromptFingerprints implements PromptMatcher {
  #h1 = new Int32Array(INITIAL_SLOTS);
  #h2 = new Int32Array(INITIAL_SLOTS);
  #used = new Uint8Array(INITIAL_SLOTS);
  #size = 0;
  #saturated = false;

  /** Distinct windows kept. */
  get size(): number {
    return this.#size;
  }

  get saturated(): boolean {
    return this.#saturated;
  }

  /** Remembers every window of text (nothing when it is shorter than one window). */
  add(text: string): void {
    scan(text, (h1, h2) => {
      if (this.#saturated) return;
      if (this.#size >= MAX_PROMPT_WINDOWS) {
        if (!this.#has(h1, h2)) this.#saturated = true;
        return;
      }
      this.#insert(h1, h2);
    });
  }

  find(text: string): PromptRegion[] {
    const regions: PromptRegion[] = [];
    if (this.#size === 0) return regions;
    scan(text, (h1, h2, start, end) => {
      if (!this.#has(h1, h2)) return;
      const last = regions[regions.length - 1];
      if (last && start <= last.end) last.end = Math.max(last.end, end);
      else regions.push({ start, end });
    });
    // A window may begin or end on the blank between words: that blank is no prompt text.
    for (const r of regions) {
      for (let w = blankWidth(text, r.start); w > 0 && r.start < r.end; w = blankWidth(text, r.start)) r.start += w;
      for (let w = blankWidthBefore(text, r.end); w > 0 && r.end > r.start; w = blankWidthBefore(text, r.end)) r.end -= w;
    }
    return regions;
  }

  #has(h1: number, h2: number): boolean {
    const mask = this.#used.length - 1;
    for (let i = mix(h1) & mask; this.#used[i]; i = (i + 1) & mask) {
      if (this.#h1[i] === h1 && this.#h2[i] === h2) return true;
    }
    return false;
  }

  #insert(h1: number, h2: number): void {
    if ((this.#size + 1) * 2 > this.#used.length) this.#grow();
    const mask = this.#used.length - 1;
    let i = mix(h1) & mask;
    for (; this.#used[i]; i = (i + 1) & mask) {
      if (this.#h1[i] === h1 && this.#h2[i] === h2) return;
    }
    this.#used[i] = 1;
    this.#h1[i] = h1;
    this.#h2[i] = h2;
    this.#size++;
  }

  #grow(): void {
    const [o1, o2, ou] = [this.#h1, this.#h2, this.#used];
    const slots = ou.length * 2;
    this.#h1 = new Int32Array(slots);
    this.#h2 = new Int32Array(slots);
    this.#used = new Uint8Array(slots);
    this.#size = 0;
    for (let i = 0; i < ou.length; i++) if (ou[i]) this.#insert(o1[i]!, o2[i]!);
  }
}

/** Several sets as one (a bundle covers several executions). */
export function unionMatcher(sets: readonly PromptMatcher[]): PromptMatcher | undefined {
  if (sets.length === 0) return undefined;
  if (sets.length === 1) return sets[0];
  return {
    saturated: sets.some((s) => s.saturated),
    find: (text) => mergeRegions(sets.flatMap((s) => s.find(text))),
  };
}

function mergeRegions(regions: PromptRegion[]): PromptRegion[] {
  regions.sort((a, b) => a.start - b.start);
  const out: PromptRegion[] = [];
  for (const r of regions) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/**
 * Calls visit for every window of L normalised characters with its two hashes and the span of
 * the original text it covers.
 */
function scan(text: string, visit: (h1: number, h2: number, start: number, end: number) => void): void {
  const codes = new Int32Array(L);
  const starts = new Int32Array(L);
  let n = 0; // normalised characters so far
  let h1 = 0;
  let h2 = 0;
  let pendingSpace = -1; // start of a whitespace run not yet emitted
  const emit = (c: number, start: number, end: number): void => {
    const slot = n % L;
    const out = n >= L ? codes[slot]! : 0;
    codes[slot] = c;
    starts[slot] = start;
    h1 = (Math.imul(h1, B1) + c - Math.imul(out, P1)) | 0;
    h2 = (Math.imul(h2, B2) + c - Math.imul(out, P2)) | 0;
    n++;
    if (n >= L) visit(h1, h2, starts[n % L]!, end);
  };
  const len = text.length;
  for (let i = 0; i < len; i++) {
    let c = text.charCodeAt(i);
    const at = i;
    if (c === 0x5c /* \ */ && i + 1 < len) {
      const d = text.charCodeAt(i + 1);
      if (d === 0x6e /* n */ || d === 0x74 /* t */ || d === 0x72 /* r */) {
        i++;
        c = 0x20;
      } else if (d === 0x22 /* " */ || d === 0x5c || d === 0x2f /* / */) {
        i++;
        c = d;
      }
    }
    if (isBlank(c)) {
      if (pendingSpace < 0) pendingSpace = at;
      continue;
    }
    if (pendingSpace >= 0) {
      // A run of blanks is one space, ending where the run ends.
      if (n > 0) emit(0x20, pendingSpace, at);
      pendingSpace = -1;
    }
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    emit(c, at, i + 1);
  }
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d || c === 0x0c || c === 0x0b || c === 0xa0;
}

function isBlankEscape(text: string, i: number): boolean {
  const d = text.charCodeAt(i + 1);
  return text.charCodeAt(i) === 0x5c && (d === 0x6e || d === 0x74 || d === 0x72);
}

/** Width of the blank (a character or a \n-style escape) starting at i, 0 if none. */
function blankWidth(text: string, i: number): number {
  if (isBlank(text.charCodeAt(i))) return 1;
  return isBlankEscape(text, i) ? 2 : 0;
}

/** Width of the blank ending at end, 0 if none. */
function blankWidthBefore(text: string, end: number): number {
  if (end > 0 && isBlank(text.charCodeAt(end - 1))) return 1;
  return end > 1 && isBlankEscape(text, end - 2) ? 2 : 0;
}

function powMod32(base: number, exp: number): number {
  let r = 1;
  for (let i = 0; i < exp; i++) r = Math.imul(r, base);
  return r;
}

/** Spreads a hash over the table index bits (the low bits of a polynomial hash are weak). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Text with every known prompt stretch replaced by its digest (what the redactor does, for
 * controller-made text such as status messages, which needs no other rule). Fail closed: when
 * the matcher could not remember everything, the whole text is withheld.
 */
export function removePrompts(text: string, prompts: PromptMatcher | undefined): string {
  if (!prompts || text === '') return text;
  if (prompts.saturated) return placeholder('prompt');
  let out = '';
  let from = 0;
  for (const r of prompts.find(text)) {
    out += text.slice(from, r.start) + promptDigest(text.slice(r.start, r.end));
    from = r.end;
  }
  return from === 0 ? text : out + text.slice(from);
}
