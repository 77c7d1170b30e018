import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import { REDACTED, createLogger, formatDevLine } from '../../../src/observability/logger.ts';

function capture(format: 'json' | 'dev' = 'json') {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', format, destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines, text: () => lines.join('') };
}

const SECRETS = ['s3cr3t-token', 'hunter2', 'Bearer abc.def.ghi', 'sk-live-key', 'session=xyz', 'pem-private', 'refresh-me'];

test('secret-looking fields never reach the output, at any nesting level up to 5', () => {
  const { log, text } = capture();
  log.info(
    {
      token: SECRETS[0],
      user: { password: SECRETS[1] },
      req: { headers: { authorization: SECRETS[2], Authorization: SECRETS[2], cookie: SECRETS[4], 'content-type': 'application/json' } },
      provider: { config: { auth: { apiKey: SECRETS[3] } } },
      a: { b: { c: { d: { e: { secret: SECRETS[5] } } } } },
      grants: [{ tool: 'git', credentials: { refreshToken: SECRETS[6] } }],
      kept: 'visible-value',
    },
    'calling provider',
  );
  const out = text();
  for (const s of SECRETS) assert.ok(!out.includes(s), `leaked ${s}: ${out}`);
  const rec = JSON.parse(out) as Record<string, any>;
  assert.equal(rec.token, REDACTED);
  assert.equal(rec.user.password, REDACTED);
  assert.equal(rec.req.headers.authorization, REDACTED);
  assert.equal(rec.req.headers['content-type'], 'application/json');
  assert.equal(rec.provider.config.auth.apiKey, REDACTED);
  assert.equal(rec.a.b.c.d.e.secret, REDACTED);
  assert.equal(rec.grants[0].credentials, REDACTED);
  assert.equal(rec.kept, 'visible-value');
  assert.equal(rec.msg, 'calling provider');
});

test('child bindings and error bodies are redacted too', () => {
  const { log, text } = capture();
  const err = new ApiException(401, 'unauthorized', { token: SECRETS[0], message: 'bad token' }, {});
  log.child({ headers: { authorization: SECRETS[2] } }).error({ err, body: { password: SECRETS[1] } }, 'failed');
  const out = text();
  for (const s of SECRETS) assert.ok(!out.includes(s), `leaked ${s}: ${out}`);
  assert.match(out, /bad token/);
});

test('the logger does not mutate the logged object', () => {
  const { log } = capture();
  const obj = { headers: { authorization: 'Bearer keep-me' } };
  log.info(obj, 'x');
  assert.equal(obj.headers.authorization, 'Bearer keep-me');
});

test('dev format is one readable line per record, still redacted', () => {
  const { log, text } = capture('dev');
  log.warn({ key: 'ns/a', password: SECRETS[1] }, 'reconcile failed');
  const out = text();
  assert.match(out, /^\d\d:\d\d:\d\d\.\d{3} WARN  reconcile failed key=ns\/a password=\[REDACTED\]\n$/);
  assert.equal(formatDevLine('not json\n'), 'not json\n');
});
