// Key names (env vars, JSON/YAML keys, headers, query parameters, --flags) whose values are
// credentials, and the category a redacted value of each is counted under.
import { SECRET_KEYS } from '../observability/logger.ts';
import { PLACEHOLDER_SPLIT, type RedactionCategory } from './placeholders.ts';

const SENSITIVE_WORDS = new Set([
  'token', 'secret', 'secrets', 'password', 'passwords', 'passwd', 'pwd', 'passphrase', 'credential', 'credentials',
  'cookie', 'cookies', 'apikey', 'apikeys', 'privatekey', 'accesskey', 'secretkey', 'authtoken', 'auth', 'authorization',
  'accountkey', 'sharedaccesskey', 'sharedaccesssignature', 'connectionstring', 'dsn', 'jwt', 'bearer', 'pat',
]);
// Joined (separator-free, lower-case) names containing these are credentials too: GITHUBTOKEN.
const SENSITIVE_JOINED = /token(?!s|iz|is)|secret|passw|passphrase|credential|cookie|apikey|privatekey|accesskey|secretkey/;
// A last word like these names something about a credential, not the credential: secretKeyRef,
// credentialsSecretRef, tokenPath, passwordFile, AWS_ACCESS_KEY_ID, tokensIncluded.
const NOT_A_VALUE = new Set([
  'ref', 'refs', 'name', 'names', 'path', 'paths', 'file', 'files', 'dir', 'type', 'types', 'kind', 'id', 'ids', 'length', 'len',
  'count', 'limit', 'limits', 'ttl', 'expiry', 'expires', 'expiration', 'at', 'url', 'uri', 'urls', 'endpoint', 'header', 'headers',
  'format', 'prefix', 'suffix', 'field', 'fields', 'source', 'mode', 'policy', 'enabled', 'required', 'included', 'present', 'set',
  'configured', 'used', 'usage', 'budget', 'hint', 'label', 'labels', 'selector', 'version', 'algorithm', 'alg', 'size', 'bytes',
  'seconds', 'timeout', 'index', 'hash', 'sha', 'digest',
]);

function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

const sensitiveMemo = new Map<string, boolean>();
// The keys the logger redacts are credentials here too, whatever the word rules say.
const LOGGER_KEYS = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));

/** Whether values of a key (env var, JSON/YAML key, header, query parameter) are credentials. */
export function isSensitiveKey(key: string): boolean {
  if (key.length === 0 || key.length > 256) return false;
  let known = sensitiveMemo.get(key);
  if (known === undefined) {
    if (sensitiveMemo.size >= 8192) sensitiveMemo.clear();
    known = sensitiveKeyUncached(key);
    sensitiveMemo.set(key, known);
  }
  return known;
}

function sensitiveKeyUncached(key: string): boolean {
  if (LOGGER_KEYS.has(key.toLowerCase())) return true;
  // Placeholders in a key name are no words of it.
  const words = keyWords(key.replace(PLACEHOLDER_SPLIT, ' '));
  if (words.length === 0) return false;
  const last = words[words.length - 1]!;
  if (words.length > 1 && NOT_A_VALUE.has(last)) return false;
  if (words[0] === 'public' || words[0] === 'no' || words[0] === 'skip') return false;
  if (words.some((w) => SENSITIVE_WORDS.has(w))) return true;
  // api_key, ssh_key, signing_key, encryption_keys; a bare `key` is too generic (map keys).
  if (words.length > 1 && (last === 'key' || last === 'keys')) return true;
  return SENSITIVE_JOINED.test(words.join(''));
}

export function keyCategory(key: string): RedactionCategory {
  const joined = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (joined === 'authorization' || joined === 'proxyauthorization') return 'authorizationHeader';
  if (joined.includes('awssecret') || joined === 'secretaccesskey' || joined === 'awssecretkey') return 'awsSecretKey';
  if (joined === 'accountkey' || joined === 'sharedaccesskey' || joined === 'sharedaccesssignature' || joined.startsWith('azure')) return 'azureKey';
  if (key === 'private_key') return 'gcpPrivateKey';
  if (joined === 'privatekey') return 'privateKey';
  return 'sensitiveKey';
}
