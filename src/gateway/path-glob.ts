// The path patterns of an http connector (spec.connector.paths), matched against the path the
// agent calls after /v1/tools/<tool>. `*` matches within one segment, `**` any number of
// segments (including none); everything else is literal. Patterns come from a grant the
// delegator's RBAC admitted, so they are compiled once per pattern text and remembered by the
// caller that owns the cache.

/** A pattern as an anchored regular expression. */
export function compileGlob(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // `/**` at a segment boundary also matches the bare parent (`/repos/**` matches `/repos`).
        const slashBefore = out.endsWith('/');
        if (slashBefore && (i + 2 === pattern.length || pattern[i + 2] === '/')) {
          out = `${out.slice(0, -1)}(?:/.*)?`;
        } else {
          out += '.*';
        }
        i++;
      } else {
        out += '[^/]*';
      }
    } else {
      out += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${out}$`);
}

/** Does `path` match one of the patterns? Returns the pattern that matched. */
export function matchGlobs(path: string, patterns: readonly string[], compile: (p: string) => RegExp = compileGlob): string | undefined {
  return patterns.find((p) => compile(p).test(path));
}

/**
 * Compiled patterns remembered by their text (a grant's few patterns are compiled once, not on
 * every call); owned by the gateway server, bounded.
 */
export class GlobCache {
  readonly #compiled = new Map<string, RegExp>();
  readonly #max: number;

  constructor(max = 4096) {
    this.#max = max;
  }

  readonly compile = (pattern: string): RegExp => {
    let re = this.#compiled.get(pattern);
    if (re === undefined) {
      re = compileGlob(pattern);
      if (this.#compiled.size >= this.#max) this.#compiled.clear();
      this.#compiled.set(pattern, re);
    }
    return re;
  };
}
