// `make docs`: writes docs/reference/*.md from contracts/ and the generated tables of
// docs/profiles.md from the built-in profile rules and examples/profiles/.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { docFiles } from '../src/codegen/doc-files.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
for (const file of docFiles(root)) {
  const target = path.join(root, file.path);
  let current: string | undefined;
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === file.content) continue;
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, file.content);
  console.log(`wrote ${file.path}`);
}
