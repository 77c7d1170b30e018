// Everything derived from contracts/: the CRDs and the TypeScript types. Writing and checking
// share this list, so `make crds` and the staleness test cannot disagree.
import { buildAllCrds } from './crds.ts';
import { generateTypes, TYPES_FILE } from './typegen.ts';

export interface GeneratedFile {
  path: string;
  content: string;
}

export function generatedFiles(): GeneratedFile[] {
  return [
    ...buildAllCrds().map(({ file, yaml }) => ({ path: `crds/${file}`, content: yaml })),
    { path: TYPES_FILE, content: generateTypes() },
  ];
}
