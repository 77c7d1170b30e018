// Unpacks an output's tar archive into a folder of the user's, trusting nothing in it: the
// archive was written by an agent. Only regular files and directories are created; absolute
// names, `..`, links and device files are refused (the whole archive, before anything is
// written), so no entry can land outside the folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { extract, type Header } from 'tar-stream';

export interface ExtractedEntry {
  name: string;
  type: 'file' | 'directory';
  size: number;
}

/** The archive's entries, or an Error naming the first one that is not allowed. */
export async function readEntries(tar: Buffer): Promise<Array<ExtractedEntry & { data: Buffer }>> {
  const entries: Array<ExtractedEntry & { data: Buffer }> = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header: Header, stream, next) => {
      const body: Buffer[] = [];
      stream.on('data', (c) => body.push(c as Buffer));
      stream.on('end', () => {
        const problem = entryProblem(header);
        if (problem) return next(new Error(problem));
        entries.push({ name: header.name.replace(/\/+$/, ''), type: header.type === 'directory' ? 'directory' : 'file', size: header.size ?? 0, data: Buffer.concat(body) });
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return entries;
}

/** Why this entry may not be unpacked, or undefined. */
export function entryProblem(h: Pick<Header, 'name' | 'type'>): string | undefined {
  if (h.type !== 'file' && h.type !== 'directory') return `entry ${JSON.stringify(h.name)} is a ${h.type}: only files and folders are unpacked`;
  const n = h.name.replace(/\/+$/, '');
  if (n === '' || path.posix.isAbsolute(h.name)) return `entry ${JSON.stringify(h.name)} has an absolute or empty name`;
  if (n.split('/').some((part) => part === '..' || part === '')) return `entry ${JSON.stringify(h.name)} reaches outside the output`;
  return undefined;
}

/** Unpacks into dir (created); refuses the whole archive when any entry is not allowed. */
export async function extractInto(tar: Buffer, dir: string): Promise<ExtractedEntry[]> {
  const entries = await readEntries(tar);
  mkdirSync(dir, { recursive: true });
  for (const e of entries) {
    const target = path.join(dir, ...e.name.split('/'));
    if (!target.startsWith(path.resolve(dir) + path.sep)) throw new Error(`entry ${JSON.stringify(e.name)} reaches outside the output`);
    if (e.type === 'directory') mkdirSync(target, { recursive: true });
    else {
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, e.data);
    }
  }
  return entries.map(({ name, type, size }) => ({ name, type, size }));
}
