// The YAML text of a generated CRD, laid out as crds/ has always been: a string too long for
// its line becomes a folded block (>-) broken greedily at single spaces so each line fits the
// width left at its depth (never under 40 columns), and a string that cannot be plain is
// single-quoted. The `yaml` library folds plain scalars instead and prefers double quotes, so
// strings get this one stringifier; everything else is the library's. Keeping the layout means
// reviewers of a contract change see only what changed in the schema.
import { Document, Scalar } from 'yaml';
import { stringifyString, stringTag, type StringifyContext } from 'yaml/util';

const MIN_WIDTH = 40;

export function crdYaml(value: unknown, lineWidth: number): string {
  const doc = new Document(value, {
    aliasDuplicateObjects: false,
    version: '1.1',
    customTags: (tags) => tags.map((tag) => (tag === stringTag ? { ...stringTag, stringify: stringifyStr(lineWidth) } : tag)),
  });
  return doc.toString({ lineWidth: 0, singleQuote: true });
}

function stringifyStr(lineWidth: number) {
  return (item: Scalar, ctx: StringifyContext, onComment?: () => void, onChompKeep?: () => void): string => {
    const text = String(item.value);
    const str = { ...ctx, actualString: true };
    if (ctx.implicitKey || text.includes('\n')) return stringifyString(item, str, onComment, onChompKeep);
    const width = Math.max(Math.min(lineWidth, MIN_WIDTH), lineWidth - ctx.indent.length);
    if (text.length > width && text[0] !== ' ') return `>-\n${ctx.indent}${foldLine(text, width).replaceAll('\n', `\n${ctx.indent}`)}`;
    const plain = stringifyString(item, str, onComment, onChompKeep);
    // Control characters need double quotes' escapes.
    if (!/^['"]/.test(plain) || /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(text)) return plain;
    return `'${text.replaceAll("'", "''")}'`;
  };
}

/** Greedy line breaking at single spaces: the longest line within width, else the shortest over it. */
function foldLine(line: string, width: number): string {
  const breaks = / [^ ]/g;
  let start = 0;
  let curr = 0;
  let out = '';
  for (let match = breaks.exec(line); match !== null; match = breaks.exec(line)) {
    const next = match.index;
    if (next - start > width) {
      const end = curr > start ? curr : next;
      out += `\n${line.slice(start, end)}`;
      start = end + 1;
    }
    curr = next;
  }
  out += '\n';
  if (line.length - start > width && curr > start) out += `${line.slice(start, curr)}\n${line.slice(curr + 1)}`;
  else out += line.slice(start);
  return out.slice(1);
}
