// How many tokens one model call may use, decided before it is forwarded, pure.
//
// Tokens are only known after a call, so a budget check alone lets every call in flight cross
// the budget by its own usage. Instead each call holds an allowance while it runs: its prompt
// (estimated from the request size: about 4 bytes a token, and the JSON around the text makes
// that an over-estimate) plus its completion cap. Calls are admitted only while the allowances
// in flight and the usage so far fit the budget, and a completion cap larger than what is left
// is lowered to it — the provider then stops the completion there.
//
// A request without its own cap gets one only when the budget is nearly used up (under
// TAIL_TOKENS left): adding max_tokens to every request would make providers that check
// prompt + max_tokens against the model's context length (vLLM does) refuse calls whenever the
// budget is larger than the context. Such an uncapped call holds TAIL_TOKENS of completion, so
// what it may cross the budget by is its completion beyond what was left — only when more than
// TAIL_TOKENS were.
export const TAIL_TOKENS = 4096;
const BYTES_PER_TOKEN = 4;

export type TokenAllowance =
  | { ok: true; hold: number; cap?: { field: string; value: number } }
  | { ok: false; left: number; needed: number };

export function tokenAllowance(path: string, body: Readonly<Record<string, unknown>>, requestBytes: number, left: number): TokenAllowance {
  const prompt = Math.ceil(requestBytes / BYTES_PER_TOKEN);
  if (path === '/v1/embeddings') return prompt <= left ? { ok: true, hold: prompt } : { ok: false, left, needed: prompt };
  const field = path === '/v1/chat/completions' && body.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens';
  const asked = body[field];
  const requested = typeof asked === 'number' && Number.isSafeInteger(asked) && asked > 0 ? asked : undefined;
  const room = left - prompt;
  if (room < 1) return { ok: false, left, needed: prompt + 1 };
  if (requested !== undefined) {
    return requested <= room ? { ok: true, hold: prompt + requested } : { ok: true, hold: left, cap: { field, value: room } };
  }
  if (room < TAIL_TOKENS) return { ok: true, hold: left, cap: { field, value: room } };
  return { ok: true, hold: prompt + TAIL_TOKENS };
}
