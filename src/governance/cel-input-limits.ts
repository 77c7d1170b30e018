// How large the input of a CEL rule may be (see toCelValue in cel-compile.ts): a request over
// these limits is refused, never truncated. The cost model (cel-cost.ts) takes them as the worst
// case when a rule is admitted.
export const MAX_INPUT_LIST_ITEMS = 1000;
export const MAX_INPUT_STRING_LENGTH = 4096;
export const MAX_INPUT_DEPTH = 12;
export const MAX_INPUT_NODES = 20_000;
