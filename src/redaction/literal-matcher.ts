// Finds many literal strings in a text in one pass (Aho–Corasick over UTF-16 code units), so
// the cost of scrubbing known secret values stays linear in the text however many values and
// encodings of them there are. Pure.
//
// The automaton is compiled to a dense table (state × symbol → state, failure links folded in)
// over the code units the patterns use, so the scan is one array lookup per character; a
// character no pattern contains sends it straight back to the root. Very large pattern sets,
// whose table would not fit DENSE_LIMIT entries, keep a sparse map and follow failure links.
//
// find() returns the merged regions covered by any occurrence: overlapping or touching
// occurrences (a value and its base64 form side by side, or two values that share characters)
// become one region, so replacing the regions leaves no fragment of any occurrence behind.

export interface LiteralRegion {
  start: number;
  end: number;
  /** Index (in the constructor's list) of the longest literal found in the region. */
  pattern: number;
}

const ROOT = 0;
/** Table entries (Int32) above which the sparse form is kept: 8 M entries = 32 MB. */
const DENSE_LIMIT = 8 * 1024 * 1024;

export class LiteralMatcher {
  readonly patterns: readonly string[];
  /** Code unit → symbol index, -1 for code units no pattern uses. */
  readonly #symbol = new Int32Array(65536).fill(-1);
  readonly #symbols: number;
  /** Dense: state * symbols + symbol → next state. Undefined when too large. */
  readonly #delta: Int32Array | undefined;
  // Sparse trie (always built): key state * 65536 + code unit.
  readonly #next = new Map<number, number>();
  readonly #fail: Int32Array;
  /** Longest pattern ending at this state (itself or through suffix links), -1 if none. */
  readonly #out: Int32Array;

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.filter((p) => p.length > 0);
    const outs: number[] = [-1];
    let states = 1;
    let symbols = 0;
    for (let i = 0; i < this.patterns.length; i++) {
      const p = this.patterns[i]!;
      let node = ROOT;
      for (let j = 0; j < p.length; j++) {
        const code = p.charCodeAt(j);
        if (this.#symbol[code] === -1) this.#symbol[code] = symbols++;
        const key = node * 65536 + code;
        let child = this.#next.get(key);
        if (child === undefined) {
          child = states++;
          outs.push(-1);
          this.#next.set(key, child);
        }
        node = child;
      }
      const prev = outs[node]!;
      if (prev < 0 || this.patterns[prev]!.length < p.length) outs[node] = i;
    }
    this.#symbols = symbols;
    this.#fail = new Int32Array(states);
    this.#out = Int32Array.from(outs);
    const children: Array<Array<[number, number]>> = Array.from({ length: states }, () => []);
    for (const [key, child] of this.#next) children[Math.floor(key / 65536)]!.push([key % 65536, child]);
    const dense = states * symbols <= DENSE_LIMIT ? new Int32Array(states * symbols) : undefined;
    // Breadth first: a state's failure target is always shallower, so already complete.
    const queue: number[] = [];
    for (const [code, child] of children[ROOT]!) {
      this.#fail[child] = ROOT;
      queue.push(child);
      if (dense) dense[this.#symbol[code]!] = child;
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const node = queue[qi]!;
      if (dense) dense.set(dense.subarray(this.#fail[node]! * symbols, this.#fail[node]! * symbols + symbols), node * symbols);
      for (const [code, child] of children[node]!) {
        let f = this.#fail[node]!;
        while (f !== ROOT && !this.#next.has(f * 65536 + code)) f = this.#fail[f]!;
        const target = this.#next.get(f * 65536 + code);
        this.#fail[child] = target !== undefined && target !== child ? target : ROOT;
        // A state's own output is the longest pattern ending here, as every suffix is shorter.
        if (this.#out[child]! < 0) this.#out[child] = this.#out[this.#fail[child]!]!;
        if (dense) dense[node * symbols + this.#symbol[code]!] = child;
        queue.push(child);
      }
    }
    this.#delta = dense;
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  #step(node: number, code: number): number {
    const sym = this.#symbol[code]!;
    if (sym < 0) return ROOT;
    if (this.#delta) return this.#delta[node * this.#symbols + sym]!;
    let next = this.#next.get(node * 65536 + code);
    while (next === undefined && node !== ROOT) {
      node = this.#fail[node]!;
      next = this.#next.get(node * 65536 + code);
    }
    return next ?? ROOT;
  }

  /** Merged regions of text covered by occurrences, in order. */
  find(text: string): LiteralRegion[] {
    const regions: LiteralRegion[] = [];
    if (this.patterns.length === 0) return regions;
    const delta = this.#delta;
    const symbolOf = this.#symbol;
    const width = this.#symbols;
    const outs = this.#out;
    let node = ROOT;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (delta) {
        const sym = symbolOf[code]!;
        node = sym < 0 ? ROOT : delta[node * width + sym]!;
      } else {
        node = this.#step(node, code);
      }
      const out = outs[node]!;
      if (out < 0) continue;
      const end = i + 1;
      const start = end - this.patterns[out]!.length;
      // Occurrences arrive in order of their end; a longer one may reach back over several
      // regions already recorded: fold them in.
      let merged: LiteralRegion = { start, end, pattern: out };
      while (regions.length > 0 && regions[regions.length - 1]!.end >= merged.start) {
        const top = regions.pop()!;
        const longer = this.patterns[top.pattern]!.length >= this.patterns[merged.pattern]!.length ? top.pattern : merged.pattern;
        merged = { start: Math.min(top.start, merged.start), end: Math.max(top.end, merged.end), pattern: longer };
      }
      regions.push(merged);
    }
    return regions;
  }

  /** Indexes of the patterns that occur in text (each once). */
  occurring(text: string): Set<number> {
    const seen = new Set<number>();
    if (this.patterns.length === 0) return seen;
    let node = ROOT;
    for (let i = 0; i < text.length; i++) {
      node = this.#step(node, text.charCodeAt(i));
      // Every pattern ending here: walk the suffix chain of states that carry an output.
      for (let s = node; s !== ROOT; s = this.#fail[s]!) {
        const out = this.#out[s]!;
        if (out < 0) break;
        seen.add(out);
      }
    }
    return seen;
  }
}
