// Reads multi-document YAML the way kubectl does, keeping where each field is written.
//
// The `yaml` package keeps source positions per node (a finding is only useful in CI if it
// names the line). kubectl parses YAML 1.1 (sigs.k8s.io/yaml: `on`/`yes` are booleans, `0755`
// is octal) but hands timestamps over as strings; the 1.1 schema here without its timestamp tag reads values the same way, so a file
// is judged as the API server will see it.
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import type { FieldPath } from '../../api/field-path.ts';

export interface YamlDocument {
  /** 1-based line where the document's content starts. */
  line: number;
  value: unknown;
  /** Syntax errors (with their line), when the document could not be read. */
  errors: Array<{ line: number; message: string }>;
  /** 1-based line of a field, or of the nearest enclosing field that exists. */
  lineOf(path: FieldPath): number;
}

const TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp';

export function parseYamlDocuments(text: string): YamlDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter,
    version: '1.1',
    customTags: (tags) => tags.filter((t) => typeof t === 'string' || t.tag !== TIMESTAMP_TAG),
  });
  // A stream that is only comments parses to an empty list; so does ''.
  const list = Array.isArray(docs) ? docs : [docs];
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  return list.map((doc) => {
    const start = (doc.contents as YamlNode | null)?.range?.[0] ?? doc.range[0];
    const line = lineAt(start);
    // The first line of a yaml error repeats the position the finding already carries.
    const errors = doc.errors.map((e) => ({ line: e.linePos?.[0]?.line ?? line, message: (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '') }));
    return {
      line,
      value: errors.length ? undefined : doc.toJS({ maxAliasCount: 100 }),
      errors,
      lineOf: (path) => lineOfPath(doc, path, line, lineAt),
    };
  });
}

function lineOfPath(doc: Document, path: FieldPath, fallback: number, lineAt: (offset: number) => number): number {
  let node: unknown = doc.contents;
  let line = fallback;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
      if (!pair) return line;
      // A field's line is its key's line: for a nested object the value starts a line later.
      const keyRange = (pair.key as YamlNode | null)?.range;
      if (keyRange) line = lineAt(keyRange[0]);
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as YamlNode | undefined;
      if (!item) return line;
      if (item.range) line = lineAt(item.range[0]);
      node = item;
    } else {
      return line;
    }
  }
  return line;
}
