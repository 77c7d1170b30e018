// Every document of a YAML stream as plain values; the first syntax error throws (parse() does
// the same for a single document), so a broken file fails the test that reads it.
import { parseAllDocuments, type DocumentOptions, type ParseOptions, type SchemaOptions } from 'yaml';

export function loadAllYaml(text: string, options: ParseOptions & DocumentOptions & SchemaOptions = {}): unknown[] {
  return parseAllDocuments(text, options).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJS();
  });
}
