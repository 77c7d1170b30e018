// `make crds`: writes crds/*.yaml and src/api/types.generated.ts from contracts/.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../src/codegen/generated-files.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
for (const file of generatedFiles()) {
  const target = path.join(root, file.path);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, file.content);
  console.log(`wrote ${file.path}`);
}
