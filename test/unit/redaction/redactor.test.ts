import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { EXECUTION_TOKEN_PATTERN, formatExecutionToken, isExecutionToken } from '../../../src/redaction/execution-token.ts';
import { promptDigest, type RedactionCategory } from '../../../src/redaction/placeholders.ts';
import { redact, Redactor } from '../../../src/redaction/redactor.ts';
import { SecretSet, secretForms } from '../../../src/redaction/secret-set.ts';
import { isSensitiveKey } from '../../../src/redaction/sensitive-keys.ts';
import { SECRET_KEYS } from '../../../src/observability/logger.ts';

const SECRET = 'hunter2-Sup3r$ecret/val+ue=';

function once(text: string, secretValues: string[] = []) {
  const r = redact(text, { secretValues });
  assert.equal(r.ok, true, r.error);
  const again = redact(r.text, { secretValues });
  assert.equal(again.text, r.text, `not idempotent:\n${r.text}\n${again.text}`);
  assert.deepEqual(again.counts, {}, 'a second pass redacts nothing');
  return r;
}

function expectRedacted(text: string, category: RedactionCategory, gone: string, secretValues: string[] = []) {
  const r = once(text, secretValues);
  assert.ok(!r.text.includes(gone), `${category}: ${JSON.stringify(gone)} still in ${JSON.stringify(r.text)}`);
  assert.ok((r.counts[category] ?? 0) >= 1, `${category} counted: ${JSON.stringify(r.counts)} for ${JSON.stringify(r.text)}`);
  return r;
}

test('known secret values: plain, JSON-escaped, base64 (any alignment, url-safe, wrapped), URL-encoded, hex', () => {
  const b64 = Buffer.from(SECRET).toString('base64');
  const forms = [
    SECRET,
    b64,
    b64.replace(/=+$/, ''),
    Buffer.from(SECRET).toString('base64url'),
    Buffer.from(`x${SECRET}`).toString('base64'),
    Buffer.from(`xy${SECRET}\n`).toString('base64'),
    Buffer.from(`export TOKEN=${SECRET}`).toString('base64url'),
    encodeURIComponent(SECRET),
    encodeURIComponent(SECRET).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    encodeURIComponent(b64),
    Buffer.from(SECRET).toString('hex'),
  ];
  for (const form of forms) {
    const r = expectRedacted(`before ${form} after`, 'secretValue', form, [SECRET]);
    assert.match(r.text, /^before .*\[REDACTED:secretValue\].* after$/);
    assert.deepEqual(new SecretSet([SECRET]).leaks(r.text), [], `no form left for ${form}`);
  }
  const long = 'L0ng-secret-value-'.repeat(8);
  const wrapped = Buffer.from(long).toString('base64').replace(/(.{76})/g, '$1\n');
  const r = once(wrapped, [long]);
  assert.deepEqual(new SecretSet([long]).leaks(r.text), []);
  assert.equal(Buffer.from(r.text.replace(/\[REDACTED:secretValue\]|\n/g, ''), 'base64').toString('latin1').includes('L0ng-secret'), false);
});

test('values too short to scrub are counted, not matched all over the text', () => {
  const set = new SecretSet(['abc', SECRET]);
  assert.equal(set.tooShort, 1);
  assert.equal(set.size, 1);
  assert.equal(redact('abc abc', { secretValues: ['abc'] }).text, 'abc abc');
  assert.deepEqual(secretForms('ab'), []);
});

test('key-named values: env, JSON, YAML, query strings, flags, block scalars', () => {
  expectRedacted('API_KEY=abc123xyz other', 'sensitiveKey', 'abc123xyz');
  expectRedacted('export DB_PASSWORD="p@ss word"', 'sensitiveKey', 'p@ss word');
  expectRedacted('{"client_secret": "s3cr3t-value", "x": 1} trailing', 'sensitiveKey', 's3cr3t-value');
  expectRedacted("  password: hunter22 # yaml\nnext: 1", 'sensitiveKey', 'hunter22');
  expectRedacted('GET /cb?code=1&access_token=tok123456&state=2', 'sensitiveKey', 'tok123456');
  expectRedacted('run --password hunter22 --verbose', 'sensitiveKey', 'hunter22');
  expectRedacted('Cookie: session=abcdef; theme=dark', 'sensitiveKey', 'session=abcdef');
  const block = expectRedacted('aws:\n  credentials: |\n    line-one\n    line-two\nother: keep', 'sensitiveKey', 'line-two');
  assert.equal(block.text, 'aws:\n  credentials: |\n[REDACTED:sensitiveKey]\nother: keep');
  expectRedacted(`{\\"api_key\\": \\"escaped-val\\"}`, 'sensitiveKey', 'escaped-val');
  const r = once('secretKeyRef: creds\ntokenPath: /var/run/token\nmax_tokens: 50\ntokens: 1000\npublic_key: ssh-ed25519 AAAA\nkey: some-map-key\nPASSWORD=$DB_PASSWORD\nprintf "token=%s\\n" "$T"\ntoken: {{ .Values.token }}');
  assert.deepEqual(r.counts, {}, `nothing to redact in ${JSON.stringify(r.text)}`);
});

test('every key the logger redacts is a credential key for the redactor too', () => {
  for (const k of SECRET_KEYS) assert.equal(isSensitiveKey(k), true, k);
});

test('isSensitiveKey: credential names yes, names about credentials no', () => {
  for (const k of ['token', 'API_KEY', 'apiKey', 'x-api-key', 'GITHUB_TOKEN', 'GITHUBTOKEN', 'client_secret', 'password', 'db.password', 'Authorization', 'set-cookie', 'AWS_SECRET_ACCESS_KEY', 'private_key', 'ssh_key', 'credentials', 'AccountKey'])
    assert.equal(isSensitiveKey(k), true, k);
  for (const k of ['key', 'secretKeyRef', 'credentialsSecretRef', 'secretName', 'tokenPath', 'maxTokens', 'max_tokens', 'prompt_tokens', 'tokens', 'AWS_ACCESS_KEY_ID', 'monkey', 'authority', 'tokensIncluded', 'publicKey', 'passwordFile', 'keyboard'])
    assert.equal(isSensitiveKey(k), false, k);
});

test('credential formats, each in its category', () => {
  const tokens: Array<[RedactionCategory, string]> = [
    ['githubToken', `ghp_${'a1B2'.repeat(9)}`],
    ['githubToken', `gho_${'Z9y8'.repeat(9)}`],
    ['githubToken', `github_pat_11ABCDEFG0${'x_Y1'.repeat(16)}`],
    ['gitlabToken', 'glpat-Ab12Cd34Ef56Gh78Ij90'],
    ['slackToken', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp'],
    ['slackToken', 'xoxp-1234-5678-abcdefgh'],
    ['openaiKey', `sk-${'Ab1'.repeat(16)}`],
    ['openaiKey', `sk-proj-${'Qw3_'.repeat(10)}`],
    ['anthropicKey', `sk-ant-api03-${'Zx9-'.repeat(20)}AA`],
    ['huggingfaceToken', `hf_${'Hg7'.repeat(11)}a`],
    ['npmToken', `npm_${'N0p'.repeat(12)}`],
    ['awsAccessKey', 'AKIAIOSFODNN7EXAMPLE'],
    ['awsAccessKey', 'ASIAY34FZKBOKMUTVV7A'],
    ['jwt', 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'],
    ['executionToken', formatExecutionToken(randomBytes(32))],
  ];
  for (const [category, token] of tokens) {
    for (const text of [token, `x ${token} y`, `"${token}"`, `url?x=${token}&y`]) expectRedacted(text, category, token);
  }
  // Lookalikes are left alone.
  const r = once('scikit sk-learn-compatible-version-string task-1234 AKIAIOSFODNN7EXAMPLEXX eyJhbGciOi');
  assert.deepEqual(r.counts, {}, r.text);
});

test('execution token format: amx_ + 43 base64url characters', () => {
  const t = formatExecutionToken(randomBytes(32));
  assert.match(t, EXECUTION_TOKEN_PATTERN);
  assert.equal(t.length, 47);
  assert.equal(isExecutionToken(t), true);
  assert.equal(isExecutionToken(`${t}x`), false);
  assert.throws(() => formatExecutionToken(randomBytes(16)));
});

test('Authorization headers keep their scheme; bearer tokens; passwords in URLs; Azure; AWS secret; PEM', () => {
  const h = expectRedacted('Authorization: Bearer abcdefghijklmnop', 'authorizationHeader', 'abcdefghijklmnop');
  assert.equal(h.text, 'Authorization: Bearer [REDACTED:authorizationHeader]');
  expectRedacted('curl -H "Authorization: Basic dXNlcjpwYXNzd29yZA==" x', 'authorizationHeader', 'dXNlcjpwYXNzd29yZA');
  expectRedacted('-H Authorization: token ghx_not_a_real_format_but_secret x', 'authorizationHeader', 'ghx_not_a_real');
  expectRedacted('retrying with bearer abc.def-ghi_jkl', 'bearerToken', 'abc.def-ghi_jkl');
  const u = expectRedacted('postgres://app:pa55w0rd@db.local:5432/x and https://u:p%40ss@h', 'urlPassword', 'pa55w0rd');
  assert.ok(!u.text.includes('p%40ss'));
  assert.match(u.text, /postgres:\/\/app:\[REDACTED:urlPassword\]@db\.local/);
  expectRedacted('DefaultEndpointsProtocol=https;AccountName=a;AccountKey=YWJjZGVmZ2hpams=;EndpointSuffix=core.windows.net', 'azureKey', 'YWJjZGVmZ2hpams');
  expectRedacted('Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=q1w2e3r4t5y6=', 'azureKey', 'q1w2e3r4t5y6');
  expectRedacted('https://acct.blob.core.windows.net/c?sv=2021-08-06&se=2030&sig=AbCd%2Bef1234567%3D', 'azureKey', 'AbCd%2Bef1234567');
  expectRedacted('aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'awsSecretKey', 'wJalrXUtnFEMI');
  expectRedacted('{"SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}', 'awsSecretKey', 'wJalrXUtnFEMI');
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAq7BFUq\nZ29vZCBrZXkgYm9keQ==\n-----END RSA PRIVATE KEY-----';
  expectRedacted(`key:\n${pem}\ndone`, 'privateKey', 'MIIEpAIBAAKCAQEAq7BFUq');
  expectRedacted('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n(log cut here)', 'privateKey', 'b3BlbnNzaC1rZXktdjEAAAAA');
  const headless = expectRedacted('  ZXhhbXBsZSBib2R5IGxpbmU=\n  cmVzdCBvZiB0aGUga2V5\n  -----END PRIVATE KEY-----\nnext line', 'privateKey', 'cmVzdCBvZiB0aGUga2V5');
  assert.ok(!headless.text.includes('ZXhhbXBsZSBib2R5'));
  assert.match(headless.text, /next line$/);
});

test('GCP service-account JSON: private_key in its own category, the rest kept', () => {
  const sa = {
    type: 'service_account',
    project_id: 'proj',
    private_key_id: 'abc',
    private_key: '-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n',
    client_email: 'sa@proj.iam.gserviceaccount.com',
  };
  const r = expectRedacted(JSON.stringify(sa, null, 2), 'gcpPrivateKey', 'MIIEvgIBADANBgkqhkiG9w0BAQEFAASC');
  const back = JSON.parse(r.text);
  assert.equal(back.client_email, sa.client_email);
  assert.equal(back.private_key, '[REDACTED:gcpPrivateKey]');
  expectRedacted(`log: ${JSON.stringify(sa)}`, 'gcpPrivateKey', 'MIIEvgIBADANBgkqhkiG9w0BAQEFAASC');
});

test('prompt and completion text in JSON becomes sha256 + length; the rest stays useful', () => {
  const req = {
    model: 'gpt-4o',
    messages: [
      { role: 'system', content: 'You are helpful' },
      { role: 'user', content: [{ type: 'text', text: 'what is my password hunter2?' }] },
    ],
    max_tokens: 50,
  };
  const r = once(`POST /v1/chat/completions ${JSON.stringify(req)}`);
  assert.equal(r.counts.prompt, 2);
  assert.ok(!r.text.includes('You are helpful') && !r.text.includes('hunter2'));
  const body = JSON.parse(r.text.slice(r.text.indexOf('{')));
  assert.equal(body.model, 'gpt-4o');
  assert.equal(body.max_tokens, 50);
  assert.equal(body.messages[0].role, 'system');
  assert.equal(body.messages[0].content, promptDigest('You are helpful'));
  assert.match(body.messages[1].content[0].text, /^sha256:[0-9a-f]{64} len=28$/);
  assert.equal(body.messages[1].content[0].type, 'text');

  const resp = { choices: [{ index: 0, message: { role: 'assistant', content: 'the answer' } }, { text: 'legacy completion' }, { delta: { content: 'stream chunk' } }], usage: { prompt_tokens: 5 } };
  const r2 = once(JSON.stringify(resp));
  assert.equal(r2.counts.prompt, 3);
  assert.equal(JSON.parse(r2.text).usage.prompt_tokens, 5);
  once('{"prompt":"complete this","completion":"done","input":["embed me","and me"]}');
  assert.equal(redact('{"prompt":"complete this","completion":"done","input":["embed me","and me"]}').counts.prompt, 4);
  // A cut line that does not parse: the prompt is still hashed to the end of the line.
  const cut = once('..."role":"user","content":"my very private prompt');
  assert.ok(!cut.text.includes('private prompt'));
  assert.equal(cut.counts.prompt, 1);
  assert.equal(promptDigest('héllo 👋'), `sha256:${createHash('sha256').update('héllo 👋', 'utf8').digest('hex')} len=7`);
});

test('structured values: env pairs, sensitive keys at any depth, numbers under them, keys themselves', () => {
  const r = new Redactor({ secretValues: [SECRET] });
  const out: any = r.value({
    spec: {
      containers: [
        {
          env: [
            { name: 'API_KEY', value: 'literal-key-123' },
            { name: 'GREETING', value: 'hello' },
            { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
            { name: 'AUTHORIZATION', value: `Bearer ${SECRET}` },
            { name: 'PROXY_AUTHORIZATION', value: 'Basic dXNlcjpwYXNz' },
          ],
          command: ['sh', '-c', `echo ${SECRET}; export TOKEN=abc123`],
        },
      ],
    },
    data: { password: 12345678, enabled: true, nested: { deeper: { apiKey: 'k-1' } } },
    [`ghp_${'a1B2'.repeat(9)}`]: 'a token as a key',
  });
  assert.deepEqual(out.spec.containers[0].env[0], { name: 'API_KEY', value: '[REDACTED:sensitiveKey]' });
  assert.deepEqual(out.spec.containers[0].env[1], { name: 'GREETING', value: 'hello' });
  assert.deepEqual(out.spec.containers[0].env[2].valueFrom, { secretKeyRef: { name: 'creds', key: 'token' } });
  assert.equal(out.spec.containers[0].env[3].value, 'Bearer [REDACTED:secretValue]');
  assert.equal(out.spec.containers[0].env[4].value, 'Basic [REDACTED:authorizationHeader]');
  assert.deepEqual(out.spec.containers[0].command, ['sh', '-c', 'echo [REDACTED:secretValue]; export TOKEN=[REDACTED:sensitiveKey]']);
  assert.equal(out.data.password, '[REDACTED:sensitiveKey]');
  assert.equal(out.data.enabled, true);
  assert.equal(out.data.nested.deeper.apiKey, '[REDACTED:sensitiveKey]');
  assert.ok(Object.keys(out).includes('[REDACTED:githubToken]'));
  assert.deepEqual(r.value(out), out, 'idempotent on values');
});

test('never throws: odd inputs, cycles, throwing getters', () => {
  const r = new Redactor();
  assert.equal(r.text(undefined as unknown as string), 'undefined');
  const cyclic: any = { a: 1 };
  cyclic.self = cyclic;
  assert.equal(r.value(cyclic), '[REDACTED:secretValue]');
  const evil = { get spec() { throw new Error('boom'); } };
  assert.equal(r.value({ x: evil }), '[REDACTED:secretValue]');
  assert.equal(r.failed, true);
  assert.equal(redact('\u0000\uffff\ud800 lone surrogate', { secretValues: ['\ud800abc\udfff'] }).ok, true);
});

test('placeholders from elsewhere (the logger, older log tails) are left as they are', () => {
  const text = 'token=[REDACTED] password: [REDACTED] Authorization: Bearer [REDACTED]';
  assert.equal(once(text).text, text);
});
