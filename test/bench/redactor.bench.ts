// Benchmark (prints figures, asserts nothing): redactor throughput in MB/s on the kinds of text
// a diagnostics bundle holds, measured in one run on this machine.
//   - container logs: plain lines with a few credentials, base64 blobs and JSON request lines;
//   - JSON lines (audit-log-like and chat-request-like): parsed and walked;
//   - YAML objects (what objects/<kind>/<name>.yaml are made of);
//   - the worst of the adversarial inputs from the unit tests.
// Also: the cost of a long list of known secret values (Aho–Corasick keeps it flat), and of
// the final leak check.
// Run: node test/bench/redactor.bench.ts   (no cluster needed)
import { stringify } from 'yaml';
import { redact } from '../../src/redaction/redactor.ts';
import { SecretSet } from '../../src/redaction/secret-set.ts';
import { PromptFingerprints } from '../../src/redaction/prompt-matcher.ts';

const MB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_MB ?? 8) * MB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 4294967296);
}
const rand = lcg(7);
const word = (n: number) => Array.from({ length: n }, () => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[Math.floor(rand() * 62)]).join('');

function fill(make: (i: number) => string): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < SIZE; i++) {
    const s = make(i);
    parts.push(s);
    n += s.length;
  }
  return parts.join('');
}

const secrets = Array.from({ length: 10 }, () => word(24));
const corpora: Array<[string, string]> = [
  [
    'container logs',
    fill((i) => {
      switch (i % 50) {
        case 7: return `2026-06-01T12:00:${String(i % 60).padStart(2, '0')}Z INFO using API_KEY=${word(20)} for upstream\n`;
        case 19: return `DEBUG auth header Authorization: Bearer ${word(40)}\n`;
        case 23: return `payload ${Buffer.from(word(200)).toString('base64')}\n`;
        case 31: return `request {"model":"m","messages":[{"role":"user","content":"${word(80)}"}],"max_tokens":64}\n`;
        case 41: return `leaked ${secrets[i % secrets.length]} and ghp_${word(36)}\n`;
        default: return `2026-06-01T12:00:${String(i % 60).padStart(2, '0')}Z INFO step ${i} processed ${word(12)} items in ${i % 97} ms (queue=${i % 13})\n`;
      }
    }),
  ],
  [
    'JSON lines',
    fill((i) =>
      i % 3 === 0
        ? `${JSON.stringify({ model: 'm', messages: [{ role: 'system', content: word(60) }, { role: 'user', content: word(120) }], temperature: 0.2, api_key: word(30) })}\n`
        : `${JSON.stringify({ seq: i, at: '2026-06-01T12:00:00Z', operationType: 'agent_machine.execution.start', object: { kind: 'LocalAgentExecution', name: `run-${i}`, uid: word(36) }, actor: 'alice', outcome: 'started', reason: `admitted ${word(20)}` })}\n`,
    ),
  ],
  [
    'YAML objects',
    fill((i) =>
      stringify({
        apiVersion: 'agentmachine.sourceos.dev/v1alpha1',
        kind: 'ContainerExecutionRecord',
        metadata: { name: `run-${i}`, namespace: 'ns', labels: { a: 'b' } },
        spec: { container: { image: 'localhost/x', env: [{ name: 'GREETING', value: word(10) }, { name: 'TOKEN', value: word(30) }] } },
        status: { phase: 'Succeeded', exitCode: 0, logTail: `line one ${word(40)}\nline two ${word(40)}\n` },
      }),
    ),
  ],
  ['adversarial: 1 MB-runs of base64', 'Ab3+/'.repeat(SIZE / 5)],
  ['adversarial: JSON-looking lines', '{"a":"b"} x\n'.repeat(SIZE / 12)],
];

function time(fn: () => void): number {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

const mbps = (bytes: number, ms: number) => (bytes / MB / (ms / 1000)).toFixed(1);

console.log(`redactor throughput, best of ${ROUNDS}, ${SIZE / MB} MB per corpus, node ${process.version}`);
for (const [name, text] of corpora) {
  const ms = time(() => redact(text, { secretValues: secrets }));
  const r = redact(text, { secretValues: secrets });
  const total = Object.values(r.counts).reduce((a, b) => a + (b ?? 0), 0);
  console.log(`  ${name.padEnd(36)} ${mbps(text.length, ms).padStart(7)} MB/s   (${Math.round(ms)} ms, ${total} redactions)`);
}

const logs = corpora[0]![1];
for (const n of [0, 10, 100, 1000]) {
  const values = Array.from({ length: n }, () => word(24));
  const ms = time(() => redact(logs, { secretValues: values }));
  console.log(`  container logs with ${String(n).padStart(4)} known values  ${mbps(logs.length, ms).padStart(7)} MB/s`);
}
const set = new SecretSet(secrets);
const redacted = redact(logs, { secretValues: secrets }).text;
const checkMs = time(() => set.leaks(redacted));
console.log(`  final leak check (10 values, all forms) ${mbps(redacted.length, checkMs).padStart(7)} MB/s`);

// Known prompt text (what the gateway forwarded): one table probe per character.
for (const kb of [4, 256]) {
  const prompts = new PromptFingerprints();
  prompts.add(Array.from({ length: (kb * 1024) / 8 }, () => word(7)).join(' '));
  const ms = time(() => redact(logs, { secretValues: secrets, prompts }));
  console.log(`  container logs, ${String(kb).padStart(3)} KB of known prompt text ${mbps(logs.length, ms).padStart(7)} MB/s`);
}
