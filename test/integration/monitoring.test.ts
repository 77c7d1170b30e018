// The series the alerts in manifests/monitoring/prometheusrule.yaml stand on, scraped from the
// real controller process: exactly one replica reports agent_machine_leader 1 and the standby
// takes over when it goes (AgentMachineNoLeader / SeveralLeaders), and
// agent_machine_runtime_up follows whether the container engine answers (RuntimeUnreachable).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { installApi } from '../support/install.ts';
import { dockerSocket } from '../support/integration-env.ts';
import { startControllerProcess, type ControllerProcess } from '../support/controller-process.ts';
import { createNamespace, eventually } from '../support/objects.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'am-monitoring-'));
let ns = '';

before(async () => {
  await installApi();
  ns = await createNamespace('monitoring');
});

async function scrape(c: ControllerProcess): Promise<string> {
  const res = await fetch(c.metricsUrl);
  assert.equal(res.status, 200);
  return res.text();
}

/** The value of one series, or undefined when it is not exported. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('exactly one replica reports agent_machine_leader 1, and the standby does once the leader is gone', async () => {
  const fast = ['--leader-elect-lease-duration', '3', '--leader-elect-renew-deadline', '2', '--leader-elect-retry-period', '0.5', '--leader-election-namespace', ns, '-n', ns, '--docker-host', `unix://${dockerSocket()}`];
  const a = await startControllerProcess({ auditLogPath: path.join(dir, 'a.jsonl'), leaderElect: true, args: fast });
  let b: ControllerProcess | undefined;
  try {
    await a.waitForLog((l) => l.msg === 'controllers started');
    b = await startControllerProcess({ auditLogPath: path.join(dir, 'b.jsonl'), leaderElect: true, args: fast });
    await b.waitForLog((l) => l.msg === 'caches synced');
    assert.equal(sample(await scrape(a), 'agent_machine_leader'), 1, 'the leader');
    assert.equal(sample(await scrape(b), 'agent_machine_leader'), 0, 'the standby');
    // The leader's orphan sweep asked the engine at start: it answered.
    await eventually('leader reports the docker runtime up', async () => sample(await scrape(a), 'agent_machine_runtime_up{runtime="docker"}') === 1);
    assert.equal(sample(await scrape(b), 'agent_machine_runtime_up{runtime="docker"}'), undefined, 'a standby does not check the runtime');
    await a.kill('SIGTERM');
    await b.waitForLog((l) => l.msg === 'controllers started', 15_000);
    await eventually('the standby took over', async () => sample(await scrape(b!), 'agent_machine_leader') === 1);
  } finally {
    await a.kill('SIGTERM').catch(() => undefined);
    await b?.kill('SIGTERM');
  }
});

test('agent_machine_runtime_up is 0 while the container engine does not answer', async () => {
  const dead = `unix://${path.join(dir, 'no-engine.sock')}`;
  const c = await startControllerProcess({ auditLogPath: path.join(dir, 'dead.jsonl'), args: ['-n', ns, '--docker-host', dead] });
  try {
    await c.waitForLog((l) => l.msg === 'controllers started');
    await eventually('runtime reported down', async () => sample(await scrape(c), 'agent_machine_runtime_up{runtime="docker"}') === 0);
    assert.equal(sample(await scrape(c), 'agent_machine_leader'), 1, 'without election the only replica leads');
  } finally {
    await c.kill('SIGTERM');
  }
});
