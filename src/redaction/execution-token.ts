// The gateway mints one bearer token per execution; its format is defined there, once.
export {
  TOKEN_PREFIX as EXECUTION_TOKEN_PREFIX,
  TOKEN_BYTES as EXECUTION_TOKEN_BYTES,
  TOKEN_BODY_LENGTH as EXECUTION_TOKEN_BODY_LENGTH,
  TOKEN_PATTERN as EXECUTION_TOKEN_PATTERN,
  formatToken as formatExecutionToken,
  isToken as isExecutionToken,
} from '../gateway/token-format.ts';
