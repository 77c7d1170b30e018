// The gateway's bearer token format, defined once: the gateway mints and accepts tokens of this
// shape, and the diagnostics redactor recognises leaked ones by it.
//
//   amx_<32 random bytes, base64url, unpadded: 43 characters>

/** Every gateway token starts with this, so leaked ones are easy to recognise and scrub. */
export const TOKEN_PREFIX = 'amx_';
/** Random bytes behind a token: 32, which base64url-encode (unpadded) to 43 characters. */
export const TOKEN_BYTES = 32;
export const TOKEN_BODY_LENGTH = 43;
/** A whole token. */
export const TOKEN_PATTERN = /^amx_[A-Za-z0-9_-]{43}$/;

/** `amx_` + base64url(32 random bytes); the caller supplies the randomness (crypto.randomBytes). */
export function formatToken(random: Uint8Array): string {
  if (random.length !== TOKEN_BYTES) throw new Error(`an execution token needs ${TOKEN_BYTES} random bytes, got ${random.length}`);
  return TOKEN_PREFIX + Buffer.from(random).toString('base64url');
}

export function isToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** The cheap first look (prefix and length) before a presented token is hashed and looked up. */
export function hasTokenShape(value: string): boolean {
  return value.length === TOKEN_PREFIX.length + TOKEN_BODY_LENGTH && value.startsWith(TOKEN_PREFIX);
}
