import { Option, type Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKindContracts } from '../../api/contracts.ts';
import { API_VERSION, GROUP, VERSION, isKindName, type KindName } from '../../api/group.ts';
import { RESOURCES, resolveKind } from '../../api/resources.ts';
import type { AgentMachineProfile } from '../../api/types.generated.ts';
import { buildWorkspaceOperationContract, profileNameOf, type AgentMachineObject } from '../../api/workspace-operation-contract.ts';
import { AUDIT_FORMATS, buildFormat, CONTRACT_FORMATS, type ContractFormat } from '../../api/upstream-records/formats.ts';
import { entriesAbout } from '../../api/upstream-records/common.ts';
import type { AuditEntry } from '../../governance/audit-log.ts';
import { exportEntries } from '../../governance/audit-export.ts';
import { auditLines, describeSource, sourceExists, type AuditSource } from '../../governance/audit-source.ts';
import { readDeviceContext } from '../../operator/device-context.ts';
import { createKubeClients, describeError, isNotFound, statusCodeOf, type KubeClients } from '../../operator/kube-clients.ts';
import { loadKubeConfig } from '../kubeconfig.ts';

export interface ObjectRef {
  kind: KindName;
  name: string;
}

/** A CLI usage error: reported as one line, without a stack trace. */
class ContractError extends Error {}

/**
 * Accepts what `kubectl get -o name` prints (toolgrantrecord.agentmachine.sourceos.dev/NAME)
 * and what people type: KIND/NAME with the Kind, singular, plural or a short name, optionally
 * qualified by the group or version.group; or the kind and the name as two arguments.
 */
export function parseObjectRef(ref: string, name?: string): ObjectRef {
  const slash = ref.indexOf('/');
  const [kindPart, namePart] = name !== undefined ? [ref, name] : slash < 0 ? [ref, ''] : [ref.slice(0, slash), ref.slice(slash + 1)];
  if (name !== undefined && slash >= 0) throw new ContractError(`give either KIND/NAME or KIND NAME, not ${ref} ${name}`);
  if (!namePart || namePart.includes('/')) throw new ContractError(`expected KIND/NAME (e.g. toolgrantrecord/my-grant), got ${JSON.stringify(ref)}`);
  // kubectl also accepts resource.version.group; resolveKind knows resource.group.
  const kind = resolveKind(kindPart.replace(new RegExp(`\\.${VERSION}\\.${GROUP.replace(/\./g, '\\.')}$`, 'i'), `.${GROUP}`));
  if (!kind) throw new ContractError(`unknown kind ${JSON.stringify(kindPart)}: expected one of ${kindNames()}`);
  return { kind, name: namePart };
}

function kindNames(separator = '; '): string {
  return loadKindContracts()
    .map(({ kind, crd }) => `${kind} (${[crd.plural, ...crd.shortNames].join(', ')})`)
    .join(separator);
}

/** The kubeconfig context's namespace, as kubectl defaults to it. */
export function contextNamespace(kc: KubeConfig): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
}

async function readObject(clients: KubeClients, ref: ObjectRef, namespace: string): Promise<AgentMachineObject> {
  const resource = RESOURCES[ref.kind];
  const where = resource.namespaced ? ` in namespace ${JSON.stringify(namespace)}` : '';
  let obj: { apiVersion?: unknown; kind?: unknown };
  try {
    obj = await clients.request({ method: 'GET', path: resource.apiPath(resource.namespaced ? namespace : undefined, ref.name) });
  } catch (err) {
    if (isNotFound(err)) throw new ContractError(`${resource.plural}.${GROUP} ${JSON.stringify(ref.name)} not found${where}`);
    throw new ContractError(`cannot read ${resource.plural}.${GROUP} ${JSON.stringify(ref.name)}${where}: ${describeError(err)}`);
  }
  if (obj.apiVersion !== API_VERSION || !isKindName(obj.kind)) {
    throw new ContractError(`${resource.plural}.${GROUP} ${JSON.stringify(ref.name)}: the server returned ${String(obj.kind)} ${String(obj.apiVersion)}`);
  }
  return obj as AgentMachineObject;
}

/**
 * The profile is context for the contract, not its subject: when it cannot be read the
 * contract is still built, with the documented fallbacks, and the user is told on stderr.
 */
async function readProfile(clients: KubeClients, obj: AgentMachineObject): Promise<AgentMachineProfile | undefined> {
  const name = profileNameOf(obj);
  if (obj.kind === 'AgentMachineProfile' || name === undefined) return undefined;
  try {
    return await clients.request<AgentMachineProfile>({ method: 'GET', path: RESOURCES.AgentMachineProfile.apiPath(undefined, name) });
  } catch (err) {
    const code = statusCodeOf(err);
    if (code !== 404 && code !== 403) throw err;
    console.error(
      `warning: profile ${JSON.stringify(name)} of ${obj.kind} ${obj.metadata.name}: ${describeError(err)}; ` +
        'profile type falls back to personal, the budget to the request with missing dimensions 0',
    );
    return undefined;
  }
}

const HELP = `
<ref> is one object, in any form kubectl accepts:
  toolgrantrecord.agentmachine.sourceos.dev/my-grant   (what \`kubectl get -o name\` prints)
  ToolGrantRecord/my-grant   toolgrantrecord/my-grant   toolgrantrecords/my-grant   tgr/my-grant
  tgr my-grant               (kind and name as two arguments)
Kinds and their other names:
  ${kindNames('\n  ')}
AgentMachineProfile is cluster-scoped (-n is ignored); the others are read from -n, else the
kubeconfig context's namespace, else "default".

--format chooses the record family (field-by-field mapping: docs/contracts.md):
  workspace-operation    the WorkspaceOperationContract (SourceOS agent-machine schema
                         contracts/workspace-operation-contract.schema.json); event types the
                         object has not emitted yet are listed with details starting
                         "declared, not yet observed: " (default)
  prophet-core           {workspaceOperation, operationTasks, operationEvents}: prophet-core
                         WorkspaceOperation, OperationTask, OperationEvent (one per audit entry,
                         id = its sequence number; from status events without an audit trail)
  local-agent-execution  workstation-contracts LocalAgentExecution (LocalAgentExecution only)
  agent-registry         {toolGrant, revocation}: AgentToolGrant and AgentRevocationRecord
                         (ToolGrantRecord only; needs the audit trail: evidence is an entry's hash)
  policy-gate            prophet-core PolicyGateRecords, one per decision (allowed ones too)
  local-operation-log    sourceos-spec LocalOperationLog entries, one per audit entry (needs
                         the audit trail)
The audit trail is read with --audit-log FILE or --audit-cluster (the controller's segments in
--audit-namespace) and verified as it is read: a broken chain is an error. The device id is
derived from the kube-system namespace's UID and --node (default: the cluster's only Node,
else "cluster").
Exits 1 on an unknown kind, a missing object, a record the object cannot have, or an API error.`;

interface ContractCliOptions {
  namespace?: string;
  kubeconfig?: string;
  format: ContractFormat;
  auditLog?: string;
  auditCluster?: boolean;
  auditNamespace: string;
  node?: string;
}

function auditSourceOf(opts: ContractCliOptions, clients: KubeClients): AuditSource | undefined {
  if (opts.auditLog && opts.auditCluster) throw new ContractError('give --audit-log or --audit-cluster, not both');
  if (opts.auditCluster) return { kind: 'cluster', clients, namespace: opts.auditNamespace };
  return opts.auditLog ? { kind: 'file', path: opts.auditLog } : undefined;
}

/**
 * The entries about the object, with the whole chain verified as it is read: records cite
 * entries by sequence and hash, so a chain that does not verify cannot be cited.
 */
async function readAuditAbout(source: AuditSource, obj: AgentMachineObject): Promise<AuditEntry[]> {
  if (!sourceExists(source)) throw new ContractError(`audit log ${describeSource(source)} not found`);
  const about: AuditEntry[] = [];
  const result = await exportEntries(auditLines(source), {}, (e) => about.push(...entriesAbout(obj, [e])));
  if (!result.ok) throw new ContractError(`${describeSource(source)}: chain BROKEN at seq ${result.firstBadSeq}: ${result.problem}; records would cite entries that do not verify`);
  return about;
}

export function registerContractCommand(program: Command): void {
  program
    .command('contract')
    .summary("Print an object's WorkspaceOperationContract, or the upstream records, as JSON")
    .description("Print an object's WorkspaceOperationContract (operation, delegation, budget, policy gates, audit), or its records in an upstream format (--format), as JSON")
    .argument('<ref>', 'KIND/NAME (e.g. tgr/my-grant or the output of kubectl get -o name), or KIND when NAME follows')
    .argument('[name]', 'object name, when <ref> is only the kind')
    .option('-n, --namespace <namespace>', 'namespace of the object (default: the kubeconfig context namespace, else default)')
    .option('--kubeconfig <path>', 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .addOption(new Option('--format <format>', 'record family to print (see below)').choices([...CONTRACT_FORMATS]).default('workspace-operation'))
    .option('--audit-log <path>', "the controller's audit log (--audit-store file), for the records built from audit entries")
    .option('--audit-cluster', "read the audit chain the controller keeps in the API server (--audit-store cluster)")
    .option('--audit-namespace <namespace>', "the controller's namespace, where --audit-cluster finds the segments", 'agent-machine-system')
    .option('--node <name>', 'node or host the device id names (default: the cluster\'s only Node, else "cluster")')
    .addHelpText('after', HELP)
    .action(async (ref: string, name: string | undefined, opts: ContractCliOptions) => {
      try {
        const target = parseObjectRef(ref, name);
        const kubeConfig = loadKubeConfig(opts.kubeconfig);
        const clients = createKubeClients(kubeConfig);
        const obj = await readObject(clients, target, opts.namespace ?? contextNamespace(kubeConfig));
        const profile = await readProfile(clients, obj);
        if (opts.format === 'workspace-operation') {
          const contract = buildWorkspaceOperationContract(obj, { profile, now: new Date() });
          process.stdout.write(JSON.stringify(contract, null, 2) + '\n');
          return;
        }
        const source = auditSourceOf(opts, clients);
        const audit = source ? await readAuditAbout(source, obj) : [];
        if (!source && AUDIT_FORMATS.has(opts.format)) {
          if (opts.format === 'local-operation-log') throw new ContractError('--format local-operation-log is made of audit entries: give --audit-log FILE or --audit-cluster');
          console.error(`warning: no audit trail given (--audit-log, --audit-cluster): ${opts.format} records carry no audit evidence`);
        }
        const device = await readDeviceContext(clients, opts.node, (m) => console.error(`warning: ${m}`));
        const records = buildFormat(opts.format, { obj, ...(profile ? { profile } : {}), audit, device, now: new Date(), auditStore: opts.auditCluster ? 'cluster' : 'file' });
        process.stdout.write(JSON.stringify(records, null, 2) + '\n');
      } catch (err) {
        console.error(`agent-machine contract: ${err instanceof ContractError ? err.message : describeError(err)}`);
        process.exitCode = 1;
      }
    });
}
