// manifests/monitoring/ against the code: every series the Grafana dashboard and the
// PrometheusRule query is one the controller registers (with the labels it has), the rule file
// is a structurally valid PrometheusRule, and the metrics the alerts depend on move when their
// event happens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import type { V1Secret } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { createMetrics, METRIC_NAMES } from '../../src/observability/metrics.ts';
import { GatewayServer } from '../../src/gateway/server.ts';
import { TokenStore, mintToken, tokenSecretFor } from '../../src/gateway/tokens.ts';
import { UsageLedger } from '../../src/gateway/ledger.ts';
import { CredentialCache } from '../../src/gateway/credentials.ts';
import type { KubeClients } from '../../src/operator/kube-clients.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { AgentMachineProfile, LocalAgentExecution, ModelProviderBinding, ToolGrantRecord } from '../../src/api/types.generated.ts';
import { AnsweringAuthorizer, FakeInformer, execution, grant, profile } from './gateway/fixtures.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** A gateway wired to `registry` and fed by fake caches; the constructor registers its counters. */
function gatewayWith(registry: Registry, clients = {} as KubeClients) {
  const executions = FakeInformer.of<LocalAgentExecution>();
  const grants = FakeInformer.of<ToolGrantRecord>();
  const secrets = FakeInformer.of<V1Secret>();
  const ledger = new UsageLedger({ clients, logger: silentLogger(), flushIntervalMs: 60_000 });
  const server = new GatewayServer({
    tokens: new TokenStore(clients, secrets),
    informers: { executions, bindings: FakeInformer.of<ModelProviderBinding>(), profiles: FakeInformer.of<AgentMachineProfile>(profile()), grants },
    credentials: new CredentialCache(clients),
    ledger,
    logger: silentLogger(),
    authorizer: new AnsweringAuthorizer(),
    registry,
  });
  return { server, executions, grants, secrets, ledger };
}

/** Every series the controller process exports: operator metrics, gateway counters, process and Node.js. */
function registeredMetrics(): Map<string, { type: string; labels: Set<string> }> {
  const metrics = createMetrics();
  const { ledger } = gatewayWith(metrics.registry);
  ledger.stop();
  const out = new Map<string, { type: string; labels: Set<string> }>();
  for (const m of metrics.registry.getMetricsAsArray()) {
    out.set(m.name, { type: m.type as unknown as string, labels: new Set((m as unknown as { labelNames: string[] }).labelNames ?? []) });
  }
  return out;
}

const METRIC = /\b((?:agent_machine|process|nodejs)_[a-z0-9_]+)\b/g;
const SCRAPE_LABELS = new Set(['job', 'instance', 'le', 'namespace', 'pod', 'container', 'service', 'endpoint']);

function dashboardExprs(): string[] {
  const dashboard = JSON.parse(read('manifests/monitoring/grafana-dashboard.json'));
  const panels = (dashboard.panels as any[]).flatMap((p) => [p, ...(p.panels ?? [])]);
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t: any) => t.expr as string));
  for (const v of dashboard.templating.list) if (v.type === 'query') exprs.push(typeof v.query === 'string' ? v.query : v.query.query);
  return exprs;
}

function ruleFile(): any {
  return yaml.load(read('manifests/monitoring/prometheusrule.yaml'));
}

function ruleExprs(): string[] {
  return ruleFile().spec.groups.flatMap((g: any) => g.rules.map((r: any) => String(r.expr)));
}

/** The base metric a series name belongs to: histograms export _bucket, _sum and _count. */
function baseName(series: string, registered: Map<string, { type: string }>): string | undefined {
  if (registered.has(series)) return series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  return m && registered.get(m[1]!)?.type === 'histogram' ? m[1] : undefined;
}

function checkExprs(source: string, exprs: string[]): Set<string> {
  const registered = registeredMetrics();
  const used = new Set<string>();
  for (const expr of exprs) {
    assert.ok(expr && expr.trim().length > 0, `${source}: empty expression`);
    for (const [open, close] of [['(', ')'], ['[', ']'], ['{', '}']] as const) {
      assert.equal(expr.split(open).length, expr.split(close).length, `${source}: unbalanced ${open}${close} in ${expr}`);
    }
    assert.equal((expr.match(/"/g) ?? []).length % 2, 0, `${source}: unbalanced quotes in ${expr}`);
    for (const [, series] of expr.matchAll(METRIC)) {
      const base = baseName(series!, registered);
      assert.ok(base, `${source}: ${series} is not registered by the controller (${expr})`);
      used.add(base!);
      // Labels in the series' own selector must be labels it has.
      const selector = new RegExp(`\\b${series}\\{([^}]*)\\}`).exec(expr)?.[1];
      for (const [, label] of (selector ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
        if (SCRAPE_LABELS.has(label!)) continue;
        assert.ok(registered.get(base!)!.labels.has(label!), `${source}: ${series} has no label ${label} (${expr})`);
      }
    }
  }
  return used;
}

test('every series the Grafana dashboard queries is registered by the controller, with those labels', () => {
  const used = checkExprs('grafana-dashboard.json', dashboardExprs());
  // What the dashboard promises to show.
  for (const name of [
    METRIC_NAMES.reconcileTotal,
    METRIC_NAMES.reconcileErrors,
    METRIC_NAMES.reconcileDuration,
    METRIC_NAMES.workqueueDepth,
    METRIC_NAMES.toolGrants,
    METRIC_NAMES.policyDenials,
    METRIC_NAMES.runtimeUp,
    METRIC_NAMES.leader,
    'agent_machine_gateway_requests_total',
    'agent_machine_gateway_tokens_total',
    'agent_machine_gateway_budget_exhausted_total',
    'process_resident_memory_bytes',
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_p99_seconds',
  ]) {
    assert.ok(used.has(name), `the dashboard shows ${name}`);
  }
  const dashboard = JSON.parse(read('manifests/monitoring/grafana-dashboard.json'));
  assert.equal(dashboard.uid, 'agent-machine');
  const ids = (dashboard.panels as any[]).map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dashboard.panels as any[]) if (p.type !== 'row') assert.equal(p.datasource.uid, '${datasource}', `${p.title}: uses the datasource variable`);
});

test('every series the PrometheusRule queries is registered by the controller, with those labels', () => {
  const used = checkExprs('prometheusrule.yaml', ruleExprs());
  for (const name of [METRIC_NAMES.reconcileErrors, METRIC_NAMES.workqueueDepth, METRIC_NAMES.runtimeUp, METRIC_NAMES.leader, 'agent_machine_gateway_budget_exhausted_total']) {
    assert.ok(used.has(name), `an alert uses ${name}`);
  }
});

test('the PrometheusRule is structurally valid', () => {
  const rule = ruleFile();
  assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(rule.kind, 'PrometheusRule');
  assert.match(rule.metadata.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.ok(Array.isArray(rule.spec.groups) && rule.spec.groups.length > 0, 'groups');
  const groupNames = rule.spec.groups.map((g: any) => g.name);
  assert.equal(new Set(groupNames).size, groupNames.length, 'group names are unique');
  const alerts: string[] = [];
  for (const group of rule.spec.groups) {
    assert.ok(typeof group.name === 'string' && group.name.length > 0, 'group name');
    assert.ok(Array.isArray(group.rules) && group.rules.length > 0, `${group.name}: rules`);
    for (const r of group.rules) {
      assert.match(r.alert, /^[A-Z][A-Za-z0-9]+$/, `${group.name}: alert name`);
      alerts.push(r.alert);
      assert.deepEqual(Object.keys(r).filter((k) => !['alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'].includes(k)), [], `${r.alert}: unknown keys`);
      assert.ok(typeof r.expr === 'string' && r.expr.trim().length > 0, `${r.alert}: expr`);
      assert.match(String(r.for), /^\d+(ms|s|m|h|d|w|y)$/, `${r.alert}: for`);
      assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity), `${r.alert}: labels.severity`);
      assert.ok(typeof r.annotations?.summary === 'string' && r.annotations.summary.length > 0, `${r.alert}: annotations.summary`);
      assert.ok(typeof r.annotations?.description === 'string' && r.annotations.description.length > 0, `${r.alert}: annotations.description`);
      for (const text of [r.annotations.summary, r.annotations.description]) {
        assert.equal(text.split('{{').length, text.split('}}').length, `${r.alert}: template braces`);
      }
    }
  }
  assert.equal(new Set(alerts).size, alerts.length, 'alert names are unique');
  // The alerts the brief asks for.
  for (const needed of ['AgentMachineReconcileErrors', 'AgentMachineBudgetExhaustionSpike', 'AgentMachineRuntimeUnreachable', 'AgentMachineControllerAbsent', 'AgentMachineNoLeader', 'AgentMachineWorkqueueBackingUp']) {
    assert.ok(alerts.includes(needed), needed);
  }
  // docs/operations.md lists every alert.
  const ops = read('docs/operations.md');
  for (const a of alerts) assert.ok(ops.includes(`\`${a}\``), `docs/operations.md lists ${a}`);
});

test('manifests/monitoring has its own kustomization, and the base install does not include it', () => {
  const k = yaml.load(read('manifests/monitoring/kustomization.yaml')) as any;
  assert.ok(k.resources.includes('prometheusrule.yaml'));
  assert.deepEqual(k.configMapGenerator[0].files, ['grafana-dashboard.json']);
  const base = yaml.load(read('manifests/kustomization.yaml')) as any;
  assert.ok(!base.resources.some((r: string) => r.includes('monitoring')), 'the base install must work without the Prometheus Operator');
});

test('docs/operations.md documents every series the controller registers', () => {
  const ops = read('docs/operations.md');
  for (const name of registeredMetrics().keys()) if (name.startsWith('agent_machine_')) assert.ok(ops.includes(`\`${name}\``), name);
});

test('agent_machine_runtime_up and agent_machine_leader: set by the runtime checks, read from the leader probe at scrape time', async () => {
  const m = createMetrics({ defaultMetrics: false });
  let leading = false;
  m.trackLeader(() => leading);
  assert.match(await m.registry.metrics(), /^agent_machine_leader 0$/m);
  leading = true;
  assert.match(await m.registry.metrics(), /^agent_machine_leader 1$/m);
  m.runtimeUp.set({ runtime: 'docker' }, 0);
  assert.match(await m.registry.metrics(), /^agent_machine_runtime_up\{runtime="docker"\} 0$/m);
  m.runtimeUp.set({ runtime: 'docker' }, 1);
  assert.match(await m.registry.metrics(), /^agent_machine_runtime_up\{runtime="docker"\} 1$/m);
});

test('agent_machine_gateway_budget_exhausted_total counts the 429 the gateway answers when a budget dimension is used up', async () => {
  const m = createMetrics({ defaultMetrics: false });
  const clients = { request: async () => ({}) } as unknown as KubeClients;
  const { server, executions, grants, secrets, ledger } = gatewayWith(m.registry, clients);
  const url = (await server.listen('127.0.0.1', 0)).url;
  server.setActive(true);
  try {
    const ex = execution({ modelProviderRef: undefined, tools: ['mcp.github/create_issue'] }, { budget: { effective: { ...execution().status!.budget!.effective!, connectorCalls: 1 } as any } }, 'metered');
    executions.set(ex);
    const token = mintToken();
    const secret = tokenSecretFor(ex, token);
    secret.metadata!.uid = 's-metered';
    secrets.set(secret);
    grants.set(grant({}, 'Active', 'gh'));
    const authorize = () =>
      fetch(`${url}/v1/tools/authorize`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ tool: 'mcp.github/create_issue', action: 'create' }) });
    assert.equal((await authorize()).status, 200);
    assert.doesNotMatch(await m.registry.metrics(), /^agent_machine_gateway_budget_exhausted_total\{/m, 'nothing refused yet');
    assert.equal((await authorize()).status, 429);
    assert.equal((await authorize()).status, 429);
    assert.match(await m.registry.metrics(), /^agent_machine_gateway_budget_exhausted_total\{dimension="connectorCalls",route="tools"\} 2$/m);
  } finally {
    ledger.stop();
    await server.close();
  }
});
