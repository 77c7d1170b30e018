// `agent-machine artifacts list|get`: an execution's outputs, as its containers' records name
// them, fetched from the output registry with every digest verified. Access is the caller's
// own: a SelfSubjectAccessReview (get on the execution, then on each container record) asked
// before anything is read, so who may not read them gets a clear refusal and nothing from the
// registry; the reads themselves run as the caller too.
import type { Command } from 'commander';
import path from 'node:path';
import type { ContainerExecutionRecord, LocalAgentExecution } from '../../api/types.generated.ts';
import { artifactState } from '../../api/artifact-records.ts';
import { GROUP } from '../../api/group.ts';
import { createKubeClients, describeError, type KubeClients } from '../../operator/kube-clients.ts';
import { OciRegistry, RegistryError } from '../../outputs/oci-registry.ts';
import { extractInto } from '../../outputs/safe-extract.ts';
import { loadKubeConfig } from '../kubeconfig.ts';
import { getTarget, resolveTarget } from '../object-client.ts';
import { contextNamespace } from './contract.ts';
import { registerArtifactsReview } from './artifacts-review.ts';

type RecordOutput = NonNullable<NonNullable<ContainerExecutionRecord['status']>['outputs']>[number];
interface Found {
  container: string;
  record: string;
  output: RecordOutput;
}

const HELP = `
Outputs are the folders a container declares (spec.containers[].outputs). When a container
ends, the controller reads them from it and pushes each to its output registry as an OCI
artifact (status.outputs of the ContainerExecutionRecord names digest, size and reference).
The profile's artifactAccess gate decides which become durable workspace state (admitted);
the others stay provisional, with the reason and rule. \`get\` fetches admitted outputs, and
provisional ones only with --provisional. \`review\` admits or rejects outputs a profile holds
for review (see \`artifacts review --help\`).

Access is yours: a SelfSubjectAccessReview (get on the execution and on each container record)
is asked first; without it nothing is read from the cluster or the registry.

\`get\` pulls each output's manifest and layer from the registry, verifies both digests and the
size, and unpacks it into
DIR/<container>/<output>/ (only files and folders; an archive with absolute names, .. or links
is refused whole). Registries on loopback are spoken to over http, others over https unless
--plain-http; credentials: --registry-user and the password in $AGENT_MACHINE_REGISTRY_PASSWORD.

Examples:
  agent-machine artifacts list issue-triage -n default
  agent-machine artifacts get issue-triage report -o ./out
  agent-machine artifacts get issue-triage -o ./out --provisional`;

export function registerArtifactsCommand(program: Command): void {
  const cmd = program
    .command('artifacts')
    .summary("List, fetch or review an execution's outputs in the output registry")
    .description("List or fetch the outputs an execution's containers left in the output registry (OCI artifacts), digests verified, as you")
    .addHelpText('after', HELP);
  const common = (c: Command) =>
    c.option('-n, --namespace <namespace>', 'namespace of the execution (default: the kubeconfig context namespace, else default)').option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)');
  common(cmd.command('list').description("List an execution's outputs: stored or refused, digest, size, reference").argument('<execution>', 'LocalAgentExecution name (or lae/NAME)')).action(async (ref: string, opts: { namespace?: string; kubeconfig?: string }) => {
    try {
      const found = await outputsOf(ref, opts);
      if (found.length === 0) console.log('no outputs (none declared, or no container has ended yet)');
      for (const f of found) {
        const o = f.output;
        const state = artifactState(o);
        const shown = state === 'admitted' ? 'admitted' : `${state}: ${o.reason ?? '?'}${o.rule ? ` (${o.rule})` : ''}`;
        console.log([f.container, o.name, shown, o.digest ?? '-', o.size ?? '-', o.reference ?? o.message ?? ''].join('\t'));
      }
    } catch (err) {
      console.error(`agent-machine artifacts list: ${describeError(err)}`);
      process.exitCode = 1;
    }
  });
  common(
    cmd
      .command('get')
      .description("Fetch an execution's outputs (all, or one by name) into a folder, digests verified")
      .argument('<execution>', 'LocalAgentExecution name (or lae/NAME)')
      .argument('[output]', 'only this output')
      .requiredOption('-o, --output-dir <dir>', 'where to unpack: DIR/<container>/<output>/')
      .option('--provisional', 'fetch outputs the artifactAccess gate did not admit, too')
      .option('--plain-http', 'speak http to a registry that is not on loopback')
      .option('--registry-user <user>', 'registry user (password from $AGENT_MACHINE_REGISTRY_PASSWORD)'),
  ).action(async (ref: string, only: string | undefined, opts: { namespace?: string; kubeconfig?: string; outputDir: string; provisional?: boolean; plainHttp?: boolean; registryUser?: string }) => {
    try {
      process.exitCode = await getOutputs(ref, only, opts);
    } catch (err) {
      console.error(`agent-machine artifacts get: ${describeError(err)}`);
      process.exitCode = 1;
    }
  });
  registerArtifactsReview(cmd);
}

async function outputsOf(ref: string, opts: { namespace?: string; kubeconfig?: string }): Promise<Found[]> {
  const target = resolveTarget(ref, undefined, ['LocalAgentExecution'], 'LocalAgentExecution');
  const kubeConfig = loadKubeConfig(opts.kubeconfig);
  const clients = createKubeClients(kubeConfig);
  const namespace = opts.namespace ?? contextNamespace(kubeConfig);
  await requireAccess(clients, 'localagentexecutions', target.name, namespace);
  const ex = await getTarget<LocalAgentExecution>(clients, target, namespace);
  return recordsOutputs(clients, ex, namespace);
}

export class AccessDeniedError extends Error {
  override readonly name = 'AccessDeniedError';
}

/** The caller's own right to read the object, asked with a SelfSubjectAccessReview. */
async function requireAccess(clients: KubeClients, resource: string, name: string, namespace: string): Promise<void> {
  const review = await clients.authorization.createSelfSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: 'get', group: GROUP, resource, name, namespace } },
    },
  });
  if (review.status?.allowed !== true || review.status.denied === true) {
    throw new AccessDeniedError(`you may not get ${resource}/${name} in namespace ${JSON.stringify(namespace)} (${GROUP}): nothing was fetched${review.status?.reason ? ` (${review.status.reason})` : ''}`);
  }
}

async function recordsOutputs(clients: KubeClients, ex: LocalAgentExecution, namespace: string): Promise<Found[]> {
  const found: Found[] = [];
  for (const c of ex.status?.containers ?? []) {
    if (!c.recordName) continue;
    await requireAccess(clients, 'containerexecutionrecords', c.recordName, namespace);
    const rec = await getTarget<ContainerExecutionRecord>(clients, { kind: 'ContainerExecutionRecord', name: c.recordName }, namespace);
    for (const output of rec.status?.outputs ?? []) found.push({ container: c.name, record: c.recordName, output });
  }
  return found;
}

async function getOutputs(ref: string, only: string | undefined, opts: { namespace?: string; kubeconfig?: string; outputDir: string; provisional?: boolean; plainHttp?: boolean; registryUser?: string }): Promise<number> {
  const wanted = (await outputsOf(ref, opts)).filter((f) => only === undefined || f.output.name === only);
  if (wanted.length === 0) {
    console.error(`agent-machine artifacts get: ${only ? `no output named ${only}` : 'no outputs'} (agent-machine artifacts list ${ref})`);
    return 1;
  }
  let failed = 0;
  for (const { container, output: o } of wanted) {
    const state = artifactState(o);
    if (state === 'refused' || !o.reference || !o.digest || o.size === undefined) {
      console.error(`${container}/${o.name}: not stored (${o.reason}: ${o.message ?? ''})`);
      failed++;
      continue;
    }
    if (state === 'provisional' && !opts.provisional) {
      console.error(`${container}/${o.name}: provisional, not admitted by artifactAccess (${o.reason}${o.rule ? `, ${o.rule}` : ''}: ${o.message ?? ''}); --provisional fetches it anyway`);
      failed++;
      continue;
    }
    const at = o.reference.indexOf('/');
    const host = o.reference.slice(0, at);
    const repo = o.reference.slice(at + 1, o.reference.lastIndexOf('@'));
    const loopback = /^(127\.|localhost[:]|\[::1\])/.test(host) || host === 'localhost';
    const registry = new OciRegistry({ url: `${opts.plainHttp || loopback ? 'http' : 'https'}://${host}`, ...(opts.registryUser ? { username: opts.registryUser, password: process.env.AGENT_MACHINE_REGISTRY_PASSWORD ?? '' } : {}) });
    // The manifest the record names (its digest checked) must hold this very layer: a registry
    // that swapped either is caught before a byte is unpacked.
    const { manifest } = await registry.pullManifest(repo, o.reference.slice(o.reference.lastIndexOf('@') + 1));
    if (!manifest.layers.some((l) => l.digest === o.digest && l.size === o.size)) throw new RegistryError(`${o.reference} does not hold layer ${o.digest} (${o.size} bytes) that the record names`);
    const tar = await registry.pullBlob(repo, { digest: o.digest, size: o.size, mediaType: o.mediaType ?? '' });
    const dir = path.join(opts.outputDir, container, o.name);
    const entries = await extractInto(tar, dir);
    console.log(`${container}/${o.name}: ${state}, ${entries.filter((e) => e.type === 'file').length} file(s), ${o.size} bytes, ${o.digest} verified → ${dir}`);
  }
  return failed > 0 ? 1 : 0;
}
