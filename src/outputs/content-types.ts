// The media types of an output's entries, read from their bytes: a file's name is the agent's
// choice and says nothing (an executable named report.txt is an executable). Only the leading
// bytes are looked at, as file(1) does, so the answer is cheap for large outputs. The promotion
// gate compares these with the profile's outputs.allowedMediaTypes.
import { extract, type Header } from 'tar-stream';

const MAGIC: ReadonlyArray<[Buffer, string]> = [
  [Buffer.from([0x7f, 0x45, 0x4c, 0x46]), 'application/x-executable'],
  [Buffer.from('MZ'), 'application/vnd.microsoft.portable-executable'],
  [Buffer.from([0xcf, 0xfa, 0xed, 0xfe]), 'application/x-mach-binary'],
  [Buffer.from([0xfe, 0xed, 0xfa, 0xcf]), 'application/x-mach-binary'],
  [Buffer.from([0xca, 0xfe, 0xba, 0xbe]), 'application/x-mach-binary'],
  [Buffer.from('\0asm'), 'application/wasm'],
  [Buffer.from('#!'), 'text/x-shellscript'],
  [Buffer.from([0x1f, 0x8b]), 'application/gzip'],
  [Buffer.from('PK\x03\x04'), 'application/zip'],
  [Buffer.from('%PDF-'), 'application/pdf'],
  [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), 'image/png'],
  [Buffer.from([0xff, 0xd8, 0xff]), 'image/jpeg'],
];

const SNIFF_BYTES = 4096;

/** The media type of a file from its leading bytes. */
export function sniffMediaType(head: Buffer): string {
  for (const [magic, type] of MAGIC) if (head.length >= magic.length && head.subarray(0, magic.length).equals(magic)) return type;
  if (head.length === 0) return 'text/plain';
  if (head.includes(0)) return 'application/octet-stream';
  const text = head.toString('utf8');
  // A cut multi-byte character at the end of the sample is still text.
  if (text.slice(0, -1).includes('\uFFFD')) return 'application/octet-stream';
  const start = text.trimStart()[0];
  if (start === '{' || start === '[') return 'application/json';
  return 'text/plain';
}

/** The media type of an entry that is not a regular file (links, devices, fifos). */
function entryTypeMediaType(type: Header['type']): string | undefined {
  if (type === 'directory') return undefined;
  if (type === 'symlink') return 'inode/symlink';
  if (type === 'link') return 'inode/hardlink';
  if (type === 'file' || type === 'contiguous-file') return undefined;
  return `inode/${type ?? 'unknown'}`;
}

/** The distinct media types of the archive's entries, sorted; directories have none. */
export async function contentTypes(tar: Buffer): Promise<string[]> {
  const found = new Set<string>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header: Header, stream, next) => {
      const special = entryTypeMediaType(header.type);
      if (special) found.add(special);
      const head: Buffer[] = [];
      let have = 0;
      stream.on('data', (chunk) => {
        const c = chunk as Buffer;
        if (have < SNIFF_BYTES) head.push(c.subarray(0, SNIFF_BYTES - have));
        have += c.length;
      });
      stream.on('end', () => {
        if (header.type === 'file' || header.type === 'contiguous-file') found.add(sniffMediaType(Buffer.concat(head)));
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return [...found].sort();
}

