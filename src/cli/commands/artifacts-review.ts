// `agent-machine artifacts review`: admit or reject outputs a profile holds for review, with the
// caller's own credentials. The review is two annotations on the ContainerExecutionRecord
// (governance/output-review.ts); the admission policy accepts them only when the reviewer they
// name is the requesting user, and the controller then checks RBAC (`review` on
// containerexecutionrecords/outputs) and that the reviewer is not the run's delegator, and
// re-decides each output. This command asks the same questions first (who am I, may I), so a
// user who may not review is told so and nothing is written, then waits for the controller's
// answer.
import type { Command } from 'commander';
import type { ContainerExecutionRecord, LocalAgentExecution } from '../../api/types.generated.ts';
import { GROUP } from '../../api/group.ts';
import { parseReview, reviewAnnotations, reviewerRefusal } from '../../governance/output-review.ts';
import { createKubeClients, describeError, type KubeClients } from '../../operator/kube-clients.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { CliError, getTarget, mergePatch, resolveTarget, waitFor } from '../object-client.ts';
import { contextNamespace } from './contract.ts';

interface ReviewOptions {
  namespace?: string;
  kubeconfig?: string;
  container?: string;
  admit?: string[];
  reject?: string[];
  timeout: string;
}

const HELP = `
A profile with outputs.requireReview keeps every output provisional (reason ReviewRequired)
until someone reviews it. The reviewer needs the verb \`review\` on
containerexecutionrecords/outputs (ClusterRole agent-machine-output-reviewer) and patch on the
record, and may not be the execution's delegator (separation of duties). A profile rule's
refusal outranks a review: a reviewer cannot admit what the profile refuses.

Examples:
  agent-machine artifacts review issue-triage --admit report -n default
  agent-machine artifacts review containerexecutionrecord/issue-triage-agent --reject scratch`;

export function registerArtifactsReview(artifacts: Command): void {
  artifacts
    .command('review')
    .description('Admit or reject outputs held for review, as you (the controller re-decides them)')
    .argument('<target>', 'LocalAgentExecution name (or lae/NAME), or containerexecutionrecord/NAME')
    .option('--admit <output...>', 'outputs to admit')
    .option('--reject <output...>', 'outputs to reject (they stay provisional; retention deletes them)')
    .option('--container <name>', "the execution's container whose outputs are reviewed (needed when it has several)")
    .option('-n, --namespace <namespace>', 'namespace (default: the kubeconfig context namespace, else default)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--timeout <seconds>', "how long to wait for the controller's decision", '60')
    .addHelpText('after', HELP)
    .action(async (ref: string, opts: ReviewOptions) => {
      try {
        process.exitCode = await review(ref, opts);
      } catch (err) {
        console.error(`agent-machine artifacts review: ${err instanceof CliError ? err.message : describeError(err)}`);
        process.exitCode = 1;
      }
    });
}

async function review(ref: string, opts: ReviewOptions): Promise<number> {
  const admit = opts.admit ?? [];
  const reject = opts.reject ?? [];
  if (admit.length + reject.length === 0) throw new CliError('name outputs to --admit or --reject');
  const kubeConfig = loadKubeConfig(opts.kubeconfig);
  const clients = createKubeClients(kubeConfig);
  const namespace = opts.namespace ?? contextNamespace(kubeConfig);
  const record = await recordOf(clients, ref, namespace, opts.container);
  const me = await whoAmI(clients);
  const annotations = reviewAnnotations(me, admit, reject, new Date());
  const parsed = parseReview(annotations);
  if (!parsed || 'error' in parsed) throw new CliError(parsed ? parsed.error : 'no review');
  const separation = reviewerRefusal(me, record.spec.authority.delegator);
  if (separation) throw new CliError(`${separation}: nothing was written`);
  await requireReviewRight(clients, record.metadata.name!, namespace);

  await mergePatch(clients, { kind: 'ContainerExecutionRecord', name: record.metadata.name! }, namespace, { metadata: { annotations } });
  const decided = await waitFor(
    () => getTarget<ContainerExecutionRecord>(clients, { kind: 'ContainerExecutionRecord', name: record.metadata.name! }, namespace),
    (r) => r.status?.outputReview?.observed === parsed.review.observed,
    Number(opts.timeout),
  );
  if (!decided) {
    console.error(`the review is written to containerexecutionrecord/${record.metadata.name}; the controller has not decided it within ${opts.timeout} s (agent-machine artifacts list shows the outcome)`);
    return 1;
  }
  const outcome = decided.status!.outputReview!;
  for (const o of decided.status?.outputs ?? []) {
    if (!admit.includes(o.name) && !reject.includes(o.name)) continue;
    console.log(`${o.name}\t${o.admitted ? 'admitted' : 'provisional'}\t${o.reason ?? ''}${o.rule ? ` (${o.rule})` : ''}\t${o.reference ?? ''}`);
  }
  if (outcome.outcome === 'Refused') {
    console.error(`review refused (${outcome.reason}): ${outcome.message ?? ''}`);
    return 1;
  }
  console.log(outcome.message ?? outcome.reason ?? 'applied');
  return outcome.reason === 'Applied' ? 0 : 1;
}

async function recordOf(clients: KubeClients, ref: string, namespace: string, container: string | undefined): Promise<ContainerExecutionRecord> {
  const target = resolveTarget(ref, undefined, ['LocalAgentExecution', 'ContainerExecutionRecord'], 'LocalAgentExecution');
  if (target.kind === 'ContainerExecutionRecord') return getTarget<ContainerExecutionRecord>(clients, target, namespace);
  const ex = await getTarget<LocalAgentExecution>(clients, target, namespace);
  const records = (ex.status?.containers ?? []).filter((c) => c.recordName && (container === undefined || c.name === container));
  if (records.length === 0) throw new CliError(`execution ${target.name} has no container record${container ? ` for container ${container}` : ' yet'}`);
  if (records.length > 1) throw new CliError(`execution ${target.name} has several containers (${records.map((c) => c.name).join(', ')}): name one with --container`);
  return getTarget<ContainerExecutionRecord>(clients, { kind: 'ContainerExecutionRecord', name: records[0]!.recordName! }, namespace);
}

/** The user name the API server authenticates this kubeconfig as (kubectl auth whoami). */
async function whoAmI(clients: KubeClients): Promise<string> {
  const answer = await clients.request<{ status?: { userInfo?: { username?: string } } }>({
    method: 'POST',
    path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    signal: AbortSignal.timeout(30_000),
  });
  const name = answer.status?.userInfo?.username;
  if (!name) throw new CliError('the API server did not say who you are (SelfSubjectReview)');
  return name;
}

async function requireReviewRight(clients: KubeClients, record: string, namespace: string): Promise<void> {
  const answer = await clients.authorization.createSelfSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: 'review', group: GROUP, resource: 'containerexecutionrecords', subresource: 'outputs', name: record, namespace } },
    },
  });
  if (answer.status?.allowed !== true || answer.status.denied === true) {
    throw new CliError(`you may not review containerexecutionrecords/outputs ${JSON.stringify(record)} in namespace ${JSON.stringify(namespace)} (${GROUP}): nothing was written${answer.status?.reason ? ` (${answer.status.reason})` : ''}`);
  }
}
