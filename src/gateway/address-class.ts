// What kind of address an IP literal is, for the egress proxy: the proxy refuses every class but
// 'public' unless the allowlist names the host or the IP explicitly. Pure; IPv4-mapped,
// IPv4-compatible and NAT64 IPv6 forms are judged by the IPv4 address they carry, so
// `::ffff:127.0.0.1` is loopback like `127.0.0.1`.
import { isIPv4, isIPv6 } from 'node:net';

export type AddressClass = 'public' | 'loopback' | 'unspecified' | 'link-local' | 'metadata' | 'private' | 'cgnat' | 'multicast' | 'reserved';

type Range = readonly [prefix: readonly number[], bits: number, cls: AddressClass];

// First match wins: the metadata addresses sit inside link-local / ULA ranges.
const V4: readonly Range[] = [
  [[169, 254, 169, 254], 32, 'metadata'],
  [[0, 0, 0, 0], 8, 'unspecified'],
  [[127, 0, 0, 0], 8, 'loopback'],
  [[169, 254, 0, 0], 16, 'link-local'],
  [[10, 0, 0, 0], 8, 'private'],
  [[172, 16, 0, 0], 12, 'private'],
  [[192, 168, 0, 0], 16, 'private'],
  [[100, 64, 0, 0], 10, 'cgnat'],
  [[192, 0, 0, 0], 24, 'reserved'],
  [[192, 0, 2, 0], 24, 'reserved'],
  [[198, 18, 0, 0], 15, 'reserved'],
  [[198, 51, 100, 0], 24, 'reserved'],
  [[203, 0, 113, 0], 24, 'reserved'],
  [[224, 0, 0, 0], 4, 'multicast'],
  [[240, 0, 0, 0], 4, 'reserved'],
];

// As 16-bit groups.
const V6: readonly Range[] = [
  [[0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254], 128, 'metadata'],
  [[0, 0, 0, 0, 0, 0, 0, 0], 128, 'unspecified'],
  [[0, 0, 0, 0, 0, 0, 0, 1], 128, 'loopback'],
  [[0xfe80], 10, 'link-local'],
  [[0xfc00], 7, 'private'],
  [[0xfec0], 10, 'private'],
  [[0xff00], 8, 'multicast'],
  [[0x2001, 0x0db8], 32, 'reserved'],
  [[0x0100, 0, 0, 0], 64, 'reserved'],
];

function inRange(words: readonly number[], wordBits: number, prefix: readonly number[], bits: number): boolean {
  for (let i = 0; bits > 0; i++, bits -= wordBits) {
    const take = Math.min(bits, wordBits);
    const mask = take === wordBits ? (1 << wordBits) - 1 : ((1 << take) - 1) << (wordBits - take);
    if (((words[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** The 4 bytes of a dotted-quad IPv4 literal, or undefined. */
export function ipv4Bytes(text: string): number[] | undefined {
  if (!isIPv4(text)) return undefined;
  return text.split('.').map(Number);
}

/** The 8 groups of an IPv6 literal (brackets, zone ids refused), or undefined. */
export function ipv6Groups(text: string): number[] | undefined {
  if (text.includes('%') || !isIPv6(text)) return undefined;
  let s = text;
  const lastColon = s.lastIndexOf(':');
  const dotted = s.slice(lastColon + 1);
  if (dotted.includes('.')) {
    const b = ipv4Bytes(dotted);
    if (!b) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - left.length - right.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  return [...left, ...new Array<number>(fill).fill(0), ...right];
}

function classifyV4(b: readonly number[]): AddressClass {
  for (const [prefix, bits, cls] of V4) if (inRange(b, 8, prefix, bits)) return cls;
  return 'public';
}

/** The IPv4 address an IPv6 one carries: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d). */
export function embeddedIpv4(g: readonly number[]): number[] | undefined {
  const v4 = () => [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff];
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return v4();
  // IPv4-compatible, but not :: and ::1 (classified as IPv6 themselves).
  if (g.slice(0, 6).every((x) => x === 0) && (g[6] !== 0 || g[7]! > 1)) return v4();
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return v4();
  return undefined;
}

/** The class of an IP literal (IPv6 without brackets); anything that is not one is 'reserved'. */
export function classifyAddress(address: string): AddressClass {
  const b4 = ipv4Bytes(address);
  if (b4) return classifyV4(b4);
  const g = ipv6Groups(address);
  if (!g) return 'reserved';
  const inner = embeddedIpv4(g);
  if (inner) return classifyV4(inner);
  for (const [prefix, bits, cls] of V6) if (inRange(g, 16, prefix, bits)) return cls;
  return 'public';
}
