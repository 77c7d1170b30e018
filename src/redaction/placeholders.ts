// What redaction writes in place of what it removes, and how the redactor recognises its own
// output (and the logger's) so redacting twice is a no-op.
import { createHash } from 'node:crypto';

export const REDACTION_CATEGORIES = [
  'secretValue',
  'privateKey',
  'gcpPrivateKey',
  'jwt',
  'authorizationHeader',
  'bearerToken',
  'awsAccessKey',
  'awsSecretKey',
  'azureKey',
  'githubToken',
  'gitlabToken',
  'slackToken',
  'openaiKey',
  'anthropicKey',
  'huggingfaceToken',
  'npmToken',
  'executionToken',
  'urlPassword',
  'sensitiveKey',
  'prompt',
] as const;
export type RedactionCategory = (typeof REDACTION_CATEGORIES)[number];
/** Redactions by category; categories with none are absent. */
export type RedactionReport = Partial<Record<RedactionCategory, number>>;

export function placeholder(category: RedactionCategory): string {
  return `[REDACTED:${category}]`;
}

/** What prompt text becomes: its SHA-256 and length in characters (code points). */
export function promptDigest(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')} len=${codePoints(text)}`;
}

// Our own replacements, the logger's, and the digests; never redacted again.
const PLACEHOLDER_SOURCE = String.raw`\[REDACTED(?::[A-Za-z]{1,40})?\]|sha256:[0-9a-f]{64} len=[0-9]{1,15}`;
export const PLACEHOLDER_SPLIT = new RegExp(PLACEHOLDER_SOURCE, 'g');
const WHOLE_PLACEHOLDER = new RegExp(`^(?:${PLACEHOLDER_SOURCE})$`);
export const PROMPT_DIGEST = /^sha256:[0-9a-f]{64} len=[0-9]{1,15}$/;

export function isPlaceholder(text: string): boolean {
  return WHOLE_PLACEHOLDER.test(text);
}

/** Text with every placeholder replaced by a NUL: what a leak check should search. */
export function maskPlaceholders(text: string): string {
  return text.replace(PLACEHOLDER_SPLIT, '\u0000');
}
// A secret value that occurs inside our own placeholders cannot be removed from them; such
// forms are not scrubbed (the final leak check, which masks placeholders, still sees them).
export const PLACEHOLDER_VOCABULARY = [...REDACTION_CATEGORIES.map(placeholder), '[REDACTED]', 'sha256:', ' len='].join('\n');

export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) (n--, i++);
    }
  }
  return n;
}
