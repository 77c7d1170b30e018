import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { addControllerOptions, controllerConfig, type ControllerCliOptions } from '../../../../src/cli/commands/controller.ts';

const ENV = ['AGENT_MACHINE_OUTPUT_REGISTRY', 'AGENT_MACHINE_OUTPUT_RETENTION', 'AGENT_MACHINE_ADMITTED_OUTPUT_RETENTION', 'AGENT_MACHINE_OUTPUT_REGISTRY_USERNAME', 'AGENT_MACHINE_OUTPUT_REGISTRY_PASSWORD'];

function parse(args: string[], env: Record<string, string> = {}) {
  const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
  for (const k of ENV) delete process.env[k];
  Object.assign(process.env, env);
  try {
    const cmd = addControllerOptions(new Command('controller').exitOverride(), { metricsAddress: ':8080', leaderElect: false, logFormat: 'json' });
    cmd.parse(args, { from: 'user' });
    return controllerConfig(cmd.opts<ControllerCliOptions>());
  } finally {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

test('output retention: flags as durations; unset keeps everything', () => {
  const cfg = parse(['--output-registry', 'http://127.0.0.1:5000', '--output-retention', '72h', '--admitted-output-retention', '90s']);
  assert.equal(cfg.outputRegistry, 'http://127.0.0.1:5000');
  assert.deepEqual(cfg.outputRetention, { provisionalMs: 72 * 3_600_000, admittedMs: 90_000 });
  assert.equal(parse(['--output-registry', 'http://127.0.0.1:5000']).outputRetention, undefined);
  assert.throws(() => parse(['--output-retention', 'forever']), /expected a duration/);
});

test('the cluster install configures outputs through the environment (ConfigMap and Secret)', () => {
  const cfg = parse([], {
    AGENT_MACHINE_OUTPUT_REGISTRY: 'https://registry.corp.example',
    AGENT_MACHINE_OUTPUT_RETENTION: '24h',
    AGENT_MACHINE_OUTPUT_REGISTRY_USERNAME: 'pusher',
    AGENT_MACHINE_OUTPUT_REGISTRY_PASSWORD: 's3cret',
  });
  assert.equal(cfg.outputRegistry, 'https://registry.corp.example');
  assert.deepEqual(cfg.outputRetention, { provisionalMs: 24 * 3_600_000 });
  assert.deepEqual(cfg.outputRegistryCredentials, { username: 'pusher', password: 's3cret' });
  assert.equal(parse([], { AGENT_MACHINE_OUTPUT_REGISTRY_USERNAME: 'pusher' }).outputRegistryCredentials, undefined, 'no registry, no credentials');
});
