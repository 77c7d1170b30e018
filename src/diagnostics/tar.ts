// A minimal POSIX tar (ustar) writer and reader for diagnostics bundles: regular files only,
// 512-byte headers, contents padded to 512 bytes, two zero blocks at the end. Paths longer than
// ustar's 100 (+155 prefix) bytes get a PAX extended header (`path=`), which GNU tar, bsdtar,
// Python's tarfile and node-tar all read. Deterministic: the same entries and mtime give the
// same bytes, so the same bundle gets the same digest.

const BLOCK = 512;

export interface TarEntry {
  path: string;
  data: Buffer;
  /** Seconds since the epoch (default 0). */
  mtime?: number;
  /** Default 0o644. */
  mode?: number;
}

export function writeTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.path === '' || e.path.startsWith('/') || e.path.split('/').includes('..')) throw new Error(`tar: refusing path ${JSON.stringify(e.path)}`);
    const mtime = Math.max(0, Math.floor(e.mtime ?? 0));
    const split = splitUstarPath(e.path);
    if (!split) {
      const pax = paxRecord('path', e.path);
      const paxName = `PaxHeaders/${asciiName(e.path).slice(-80)}`;
      parts.push(header({ name: paxName, size: pax.length, mtime, mode: 0o644, type: 'x' }), pad(pax));
    }
    const { name, prefix } = split ?? { name: asciiName(e.path).slice(-100), prefix: '' };
    parts.push(header({ name, prefix, size: e.data.length, mtime, mode: e.mode ?? 0o644, type: '0' }), pad(e.data));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Reads what writeTar writes (and plain ustar/PAX archives with regular files). */
export function readTar(tar: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let paxPath: string | undefined;
  while (offset + BLOCK <= tar.length) {
    const h = tar.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) break;
    if (!checksumOk(h)) throw new Error(`tar: bad header checksum at offset ${offset}`);
    const size = parseOctal(h.subarray(124, 136));
    const type = String.fromCharCode(h[156]!);
    const dataStart = offset + BLOCK;
    if (dataStart + size > tar.length) throw new Error(`tar: entry at offset ${offset} runs past the end`);
    const data = Buffer.from(tar.subarray(dataStart, dataStart + size));
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      paxPath = parsePax(data).path ?? paxPath;
      continue;
    }
    if (type !== '0' && type !== '\0') continue;
    const name = cString(h.subarray(0, 100));
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(h.subarray(345, 500)) : '';
    entries.push({
      path: paxPath ?? (prefix ? `${prefix}/${name}` : name),
      data,
      mtime: parseOctal(h.subarray(136, 148)),
      mode: parseOctal(h.subarray(100, 108)),
    });
    paxPath = undefined;
  }
  return entries;
}

function header(f: { name: string; prefix?: string; size: number; mtime: number; mode: number; type: '0' | 'x' }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(f.name, 0, 100, 'utf8');
  octal(h, 100, 8, f.mode);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, f.size);
  octal(h, 136, 12, f.mtime);
  h.fill(0x20, 148, 156); // checksum is computed with this field as spaces
  h.write(f.type, 156, 1, 'latin1');
  h.write('ustar\u000000', 257, 8, 'latin1');
  h.write('root', 265, 32, 'latin1');
  h.write('root', 297, 32, 'latin1');
  if (f.prefix) h.write(f.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
  return h;
}

function octal(h: Buffer, at: number, width: number, value: number): void {
  if (value > 8 ** (width - 1) - 1) throw new Error(`tar: ${value} does not fit in ${width - 1} octal digits`);
  h.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, at, width, 'latin1');
}

function pad(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/** ustar keeps up to 100 bytes of name plus 155 of prefix, split at a slash. */
function splitUstarPath(path: string): { name: string; prefix: string } | undefined {
  if (!/^[\x20-\x7e]+$/.test(path)) return undefined;
  if (path.length <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (prefix.length <= 155 && name.length <= 100 && name.length > 0) return { name, prefix };
  }
  return undefined;
}

function asciiName(path: string): string {
  return path.replace(/[^\x20-\x7e]/g, '_');
}

/** "<len> key=value\n", where len counts itself. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`, 'utf8');
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space < 0) break;
    const len = Number(data.subarray(i, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, i + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

function parseOctal(field: Buffer): number {
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function cString(field: Buffer): string {
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum === parseOctal(h.subarray(148, 156));
}
