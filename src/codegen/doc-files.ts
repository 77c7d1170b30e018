// Everything in docs/ that is derived from code: the API reference (from contracts/) and the
// generated tables of docs/profiles.md (from the built-in rules and examples/profiles/).
// `make docs` writes this list and the staleness test compares it with the files on disk, so
// the two cannot disagree (as generated-files.ts does for crds/ and the types).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GeneratedFile } from './generated-files.ts';
import { PROFILES_DOC, profileSections, spliceGenerated } from './profile-docs.ts';
import { referenceFiles } from './reference-docs.ts';

export function docFiles(root: string): GeneratedFile[] {
  const profilesDoc = readFileSync(path.join(root, PROFILES_DOC), 'utf8');
  return [...referenceFiles(), { path: PROFILES_DOC, content: spliceGenerated(profilesDoc, profileSections(root)) }];
}
