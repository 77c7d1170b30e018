// Property and adversarial tests of the redactor over generated text (seeded, reproducible:
// REDACTOR_FUZZ_SEED=<n> REDACTOR_FUZZ_CASES=<n> to explore further).
//   - it never throws and never reports an internal error;
//   - no planted secret (known value in any encoding, or credential in a known format at a
//     token boundary) survives;
//   - redacting the output again changes nothing;
//   - pathological inputs (megabytes of one character, of base64, of quotes, of nested
//     brackets, of almost-matches) finish within a time bound, i.e. no regex backtracks.
import { mulberry32 as rng } from '../support/prng.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatExecutionToken } from '../../src/redaction/execution-token.ts';
import { redact, Redactor } from '../../src/redaction/redactor.ts';
import { SecretSet } from '../../src/redaction/secret-set.ts';

const SEED = Number(process.env.REDACTOR_FUZZ_SEED ?? 20260601);
const CASES = Number(process.env.REDACTOR_FUZZ_CASES ?? 1500);


class Gen {
  readonly r: () => number;
  constructor(seed: number) {
    this.r = rng(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chars(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const B64 = `${ALNUM}+/`;
const B64URL = `${ALNUM}-_`;
const SEPARATORS = [' ', '\n', '\t', '"', "'", ',', ' = ', ': ', '(', ')', '\r\n', '; '];
const NOISE = [
  'INFO', 'level=debug', '{', '}', '[', ']', '"', '\\"', '\\', '=', ':', '://', '@', '-----BEGIN ', '-----END ', 'PRIVATE KEY-----',
  'sha256:', ' len=', '[REDACTED', '[REDACTED]', 'Bearer', 'bearer ', 'Authorization:', 'token', 'key', 'secret', 'password', 'prompt',
  '"content":', '"role":"user"', 'messages', 'eyJ', 'sk-', 'ghp_', 'xox', 'AKIA', 'amx_', 'hf_', 'npm_', 'glpat-', 'sig=', '&', '?',
  'é', '👋', '\u0000', '\u202e', 'café', '  - ', '|', '\n  ', 'null', 'true', '$TOKEN', '***',
];

function formatToken(g: Gen): string {
  switch (g.int(12)) {
    case 0: return `ghp_${g.chars(ALNUM, 36)}`;
    case 1: return `github_pat_${g.chars(ALNUM, 22)}_${g.chars(ALNUM, 59)}`;
    case 2: return `glpat-${g.chars(ALNUM, 20)}`;
    case 3: return `xoxb-${g.chars('0123456789', 12)}-${g.chars(ALNUM, 24)}`;
    case 4: return `sk-${g.chars(ALNUM, 40)}1a`;
    case 5: return `sk-proj-${g.chars(B64URL, 60)}1a`;
    case 6: return `sk-ant-api03-${g.chars(B64URL, 80)}1a`;
    case 7: return `hf_${g.chars(ALNUM, 33)}1a`;
    case 8: return `npm_${g.chars(ALNUM, 34)}1a`;
    case 9: return `AKIA${g.chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`;
    case 10: return formatExecutionToken(Buffer.from(g.chars(ALNUM, 32)));
    default: return `eyJ${g.chars(B64URL, 20)}.eyJ${g.chars(B64URL, 30)}.${g.chars(B64URL, 43)}`;
  }
}

function secretValue(g: Gen): string {
  return g.pick([
    () => g.chars(ALNUM, 12 + g.int(40)),
    () => `${g.chars(ALNUM, 8)}-${g.chars('!#$%&*+/=?^_`{|}~', 3)}${g.chars(ALNUM, 8)}`,
    () => `pässwörd ${g.chars(ALNUM, 10)} "quoted" \\ back`,
    () => `line1 ${g.chars(ALNUM, 10)}\nline2 ${g.chars(ALNUM, 10)}`,
  ])();
}

/** One encoded appearance of a secret value. */
function encoded(g: Gen, v: string): string {
  const b = Buffer.from(v);
  return g.pick([
    () => v,
    () => b.toString('base64'),
    () => b.toString('base64url'),
    () => Buffer.from(`${g.chars(ALNUM, g.int(3))}${v}${g.chars(ALNUM, g.int(3))}`).toString('base64'),
    () => encodeURIComponent(v),
    () => encodeURIComponent(v).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    () => JSON.stringify(v).slice(1, -1),
    () => b.toString('hex'),
  ])();
}

interface Case {
  text: string;
  secrets: string[];
  planted: string[];
}

function generate(g: Gen, size: number): Case {
  const secrets = Array.from({ length: 1 + g.int(3) }, () => secretValue(g));
  const planted: string[] = [];
  let text = '';
  while (text.length < size) {
    const sep = g.pick(SEPARATORS);
    switch (g.int(9)) {
      case 0: {
        const t = formatToken(g);
        planted.push(t);
        text += sep + t + sep;
        break;
      }
      case 1:
        text += sep + encoded(g, g.pick(secrets)) + sep;
        break;
      case 2:
        text += g.pick(NOISE);
        break;
      case 3:
        text += g.chars(g.pick([ALNUM, B64, ' \n\t"\'{}[]:=\\', ALNUM + '  \n']), 1 + g.int(40));
        break;
      case 4: {
        const key = g.pick(['API_KEY', 'password', '"client_secret"', 'x-api-key', 'token', 'Authorization', 'db.password', 'SECRET']);
        const value = g.int(2) ? g.pick(secrets) : g.chars(ALNUM, 6 + g.int(20));
        text += `\n${key}${g.pick(['=', ': ', '="', ': "'])}${value}${g.pick(['"', '', '\n', ' '])}`;
        break;
      }
      case 5: {
        const msg = { model: 'm', messages: [{ role: 'user', content: `say ${g.pick(secrets)} ${g.chars(ALNUM, 8)}` }], api_key: g.chars(ALNUM, 16) };
        text += `\n${g.pick(['', 'req: ', 'DEBUG body='])}${JSON.stringify(msg)}\n`;
        break;
      }
      case 6:
        text += `${sep}https://user:${g.chars(ALNUM, 10)}@host.example/p${sep}`;
        break;
      case 7:
        text += `\n-----BEGIN PRIVATE KEY-----\n${g.chars(B64, 64)}\n${g.chars(B64, 20)}==\n-----END PRIVATE KEY-----\n`;
        break;
      default:
        text += g.pick(['é', '👋', '\ud800', '\u0000', '\\u0041', '%41%42']);
    }
  }
  return { text, secrets, planted };
}

test(`property: never throws, no planted secret survives, idempotent (${CASES} cases, seed ${SEED})`, () => {
  const g = new Gen(SEED);
  for (let i = 0; i < CASES; i++) {
    const c = generate(g, 50 + g.int(i % 50 === 0 ? 20_000 : 1_500));
    const where = `case ${i} (seed ${SEED}): ${JSON.stringify(c.text.slice(0, 300))}`;
    const r = redact(c.text, { secretValues: c.secrets });
    assert.equal(r.ok, true, `${where}: ${r.error}`);
    const leaks = new SecretSet(c.secrets).leaks(r.text);
    assert.deepEqual(leaks, [], `${where}: known value left (${JSON.stringify(leaks)}) in ${JSON.stringify(r.text.slice(0, 2000))}`);
    for (const t of c.planted) assert.ok(!r.text.includes(t), `${where}: ${t} left in ${JSON.stringify(r.text.slice(0, 2000))}`);
    for (const v of c.secrets) for (const line of v.split('\n')) assert.ok(line.length < 8 || !r.text.includes(line), `${where}: secret line left`);
    const again = redact(r.text, { secretValues: c.secrets });
    assert.equal(again.text, r.text, `${where}: not idempotent\nfirst:  ${JSON.stringify(r.text.slice(0, 3000))}\nsecond: ${JSON.stringify(again.text.slice(0, 3000))}`);
  }
});

test('property: structured values are redacted idempotently and never throw', () => {
  const g = new Gen(SEED + 1);
  const r = new Redactor({ secretValues: ['s3cret-value-123'] });
  for (let i = 0; i < 300; i++) {
    const value = randomJson(g, 0);
    const once = r.value(value);
    assert.deepEqual(r.value(once), once, JSON.stringify(value).slice(0, 500));
    assert.ok(!JSON.stringify(once).includes('s3cret-value-123'));
  }
  assert.equal(r.failed, false, r.errors.join('; '));
});

function randomJson(g: Gen, depth: number): unknown {
  const k = depth > 4 ? g.int(3) : g.int(6);
  if (k === 0) return g.pick([g.chars(ALNUM, g.int(20)), 's3cret-value-123', `x ${formatToken(g)} y`, 'Bearer abcdefghijk', '{"password":"p"}']);
  if (k === 1) return g.pick([0, 42, -1.5, true, false, null]);
  if (k === 2) return g.pick(['', '[REDACTED]', 'sha256:' + '0'.repeat(64) + ' len=3']);
  if (k === 3) return Array.from({ length: g.int(4) }, () => randomJson(g, depth + 1));
  const keys = ['name', 'value', 'password', 'token', 'content', 'role', 'messages', 'choices', 'prompt', 'text', 'type', 'env', 'spec', 'apiKey', 'max_tokens', 'secretKeyRef'];
  const o: Record<string, unknown> = {};
  for (let i = g.int(5); i > 0; i--) o[g.pick(keys)] = randomJson(g, depth + 1);
  if (g.int(3) === 0) o.name = g.pick(['API_KEY', 'HOME', 'Authorization']);
  return o;
}

// Inputs built to make a backtracking regex go quadratic or worse. Each must finish quickly;
// a regression shows up as seconds or minutes, far beyond the bound.
const MB = 1024 * 1024;
const ADVERSARIAL: Array<[string, () => string]> = [
  ['1 MB of a', () => 'a'.repeat(MB)],
  ['1 MB of base64-ish characters', () => 'Ab3+/'.repeat(MB / 5)],
  ['1 MB of base64url with dashes', () => 'a-b_'.repeat(MB / 4)],
  ['1 MB of quotes', () => '"'.repeat(MB)],
  ['nested quotes and escapes', () => '"\\"'.repeat(MB / 3)],
  ['1 MB of open braces', () => '{'.repeat(MB)],
  ['deeply nested JSON', () => '['.repeat(MB / 2) + ']'.repeat(MB / 2)],
  ['repeated almost-JWTs', () => 'eyJ'.repeat(MB / 3)],
  ['almost-JWT segments', () => 'eyJaaaa.eyJbbbb'.repeat(MB / 15)],
  ['repeated sk- prefixes', () => 'sk-'.repeat(MB / 3)],
  ['sk- with long tail, no digits', () => `sk-${'a'.repeat(MB)}`],
  ['repeated glpat-', () => 'glpat-'.repeat(MB / 6)],
  ['key=key=key', () => 'key='.repeat(MB / 4)],
  ['password: password:', () => 'password: '.repeat(MB / 10)],
  ['one huge key-like token', () => `${'token_'.repeat(MB / 6)}=x`],
  ['scheme:// without end', () => '://a:'.repeat(MB / 5)],
  ['userinfo without @', () => `https://u:${'p'.repeat(MB)}`],
  ['Bearer Bearer', () => 'Bearer '.repeat(MB / 7)],
  ['BEGIN markers', () => '-----BEGIN RSA PRIVATE KEY-----'.repeat(MB / 31)],
  ['END markers only', () => `${'A'.repeat(MB / 2)}\n-----END PRIVATE KEY-----`.repeat(2)],
  ['prompt without closing quote', () => `"prompt": "${'x\\"'.repeat(MB / 3)}`],
  ['many prompt keys', () => '"prompt":"'.repeat(MB / 10)],
  ['many JSON-looking lines', () => '{"a":"b"} x\n'.repeat(MB / 12)],
  ['YAML block scalar header lines', () => 'password: |\n'.repeat(MB / 12)],
  ['placeholder lookalikes', () => '[REDACTED:'.repeat(MB / 10)],
  ['sig= runs', () => '&sig='.repeat(MB / 5)],
];

test('adversarial inputs finish in linear time (no catastrophic backtracking)', () => {
  const secrets = ['a'.repeat(16), 'aaaa', 'Ab3+/Ab3+/Ab3+/Ab3+/', 'eyJeyJeyJeyJ'];
  for (const [name, make] of ADVERSARIAL) {
    const input = make();
    const started = performance.now();
    const r = redact(input, { secretValues: secrets });
    const ms = performance.now() - started;
    assert.equal(r.ok, true, `${name}: ${r.error}`);
    assert.ok(ms < 3_000, `${name}: ${Math.round(ms)} ms for ${input.length} characters`);
  }
});
