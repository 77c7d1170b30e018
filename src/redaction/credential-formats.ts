// Credentials recognisable by their format alone (vendor key prefixes, JWTs, execution tokens).
import { TOKEN_BODY_LENGTH, TOKEN_PREFIX } from '../gateway/token-format.ts';
import type { RedactionCategory } from './placeholders.ts';

export interface Format {
  category: RedactionCategory;
  /** Cheap test for the literal anchor: no anchor, no scan. */
  hint: RegExp;
  /** Global scanner. Starts are pinned by a lookbehind so no run is walked twice. */
  scan: RegExp;
  /** Anchored whole-value test (classifies the value of a sensitive key). */
  whole: RegExp;
  /** Random-looking bodies contain digits and letters; words like sk-learn-compat do not. */
  mixed?: boolean;
}

export function format(category: RedactionCategory, hint: RegExp, body: string, boundary: string, opts: { mixed?: boolean; flags?: string } = {}): Format {
  const flags = opts.flags ?? '';
  return {
    category,
    hint,
    scan: new RegExp(`(?<!${boundary})(?:${body})(?!${boundary})`, `g${flags}`),
    whole: new RegExp(`^(?:${body})$`, flags),
    ...(opts.mixed ? { mixed: true } : {}),
  };
}

export const W = '[A-Za-z0-9_-]';
const AWS_PREFIXES = 'AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA';
// Order matters where prefixes overlap: sk-ant- before sk-.
export const FORMATS: readonly Format[] = [
  format('executionToken', new RegExp(TOKEN_PREFIX), `${TOKEN_PREFIX}${W}{${TOKEN_BODY_LENGTH}}`, W),
  format('anthropicKey', /sk-ant-/, `sk-ant-${W}{20,}`, W),
  format('openaiKey', /sk-/, `sk-(?:proj-|svcacct-|admin-)?${W}{20,}`, W, { mixed: true }),
  format('githubToken', /gh[pousr]_|github_pat_/, 'gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}', W),
  format('gitlabToken', /gl[a-z]{1,4}t-/, `(?:glpat|gldt|glrt|glptt|glsoat|glcbt)-${W}{20,}`, W),
  format('slackToken', /xox/, 'xox[abposr]-[A-Za-z0-9-]{10,}', W),
  format('huggingfaceToken', /hf_/, 'hf_[A-Za-z0-9]{30,}', W),
  format('npmToken', /npm_/, 'npm_[A-Za-z0-9]{36,}', W),
  format('awsAccessKey', /A[KSBCGIRPN][A-Z]A/, `(?:${AWS_PREFIXES})[A-Z0-9]{16}`, '[A-Za-z0-9]'),
  format('jwt', /eyJ/, `eyJ${W}{4,}\\.eyJ${W}{4,}\\.${W}*`, '[A-Za-z0-9_.-]'),
];
// Any anchor of the format rules; most text has none and skips them all.
export const PATTERN_HINT = /PRIVATE KEY|amx_|sk-|gh[pousr]_|github_pat_|gl[a-z]{1,4}t-|xox|hf_|npm_|A[KSBCGIRPN][A-Z]A|eyJ|bearer|:\/\/|sig=/i;
// A key-value needs a separator (or a --flag).
export const KEY_VALUE_HINT = /[=:]|--/;

export function classifyValue(value: string, fallback: RedactionCategory): RedactionCategory {
  if (fallback === 'authorizationHeader') return fallback;
  for (const f of FORMATS) if (f.whole.test(value) && (!f.mixed || isMixed(value))) return f.category;
  if (/^-----BEGIN [A-Z0-9 ]{0,64}PRIVATE KEY/.test(value)) return fallback === 'gcpPrivateKey' ? fallback : 'privateKey';
  return fallback;
}

export function isMixed(token: string): boolean {
  return /[0-9]/.test(token) && /[A-Za-z]/.test(token);
}
