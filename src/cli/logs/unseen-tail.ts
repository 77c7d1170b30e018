// The part of a record's log tail that a followed stream did not print: the stream ended early
// and the container was gone before the rest could be read. The tail (the last 4 KiB) is
// matched against the last lines printed. Pure.

/** How many of the last printed lines must match for the tail to be taken as their continuation. */
const ANCHOR_LINES = 3;

export function unseenTail(printed: string, tail: string): string {
  if (tail === '') return '';
  const lines = printed.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (let n = Math.min(ANCHOR_LINES, lines.length); n > 0; n--) {
    const anchor = `${lines.slice(-n).join('\n')}\n`;
    const at = tail.lastIndexOf(anchor);
    // At a line start of the tail (or the tail's first, possibly cut, line).
    if (at >= 0 && (at === 0 || tail[at - 1] === '\n')) return tail.slice(at + anchor.length);
  }
  // Nothing printed matches: all of the tail, marked, rather than a guess.
  return `[agent-machine: the output stream ended early; the last lines its record kept follow]\n${tail}`;
}
