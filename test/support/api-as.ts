// Raw API requests as a test user, or as any identity the admin impersonates: what the API
// server answers (status code and Status message) is what the test asserts, with nothing in
// between. kubectl validates on the client first and costs a process per call; this is one
// HTTPS request. Creates and updates ask for strict field validation, so an unknown field
// (privileged, hostNetwork, ...) is rejected by the server instead of silently pruned.
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeconfigPath, TEST_USERS } from './integration-env.ts';

export interface ApiAnswer {
  status: number;
  /** Parsed JSON body (a Status on errors). */
  body: any;
  /** The Status message on errors, '' otherwise. */
  message: string;
}

export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  /** Default application/json; merge patches: application/merge-patch+json. */
  contentType?: string;
}

const configs = new Map<string, KubeConfig>();
function configFor(tokenUser: string | undefined): KubeConfig {
  const key = tokenUser ?? '';
  let kc = configs.get(key);
  if (!kc) {
    kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath(tokenUser));
    configs.set(key, kc);
  }
  return kc;
}

/** As a configured test user (alice, bob, gitops-broker) or, impersonated by the admin, anyone else. */
export async function apiAs(user: string, req: ApiRequest): Promise<ApiAnswer> {
  const tokenUser = TEST_USERS.some((u) => u.name === user) ? user : undefined;
  const kc = configFor(tokenUser);
  const url = new URL(kc.getCurrentCluster()!.server.replace(/\/+$/, '') + req.path);
  if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') url.searchParams.set('fieldValidation', 'Strict');
  const opts: https.RequestOptions = { method: req.method, headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const headers = opts.headers as Record<string, string>;
  if (!tokenUser) headers['Impersonate-User'] = user;
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  if (payload) {
    headers['content-type'] = req.contentType ?? 'application/json';
    headers['content-length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const r = https.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        const status = res.statusCode ?? 0;
        resolve({ status, body, message: status >= 300 && typeof body?.message === 'string' ? body.message : status >= 300 ? String(text).slice(0, 2000) : '' });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.setTimeout(60_000, () => r.destroy(new Error(`${req.method} ${req.path}: no answer within 60 s`)));
    r.end(payload);
  });
}

const GROUP_PATH = '/apis/agentmachine.sourceos.dev/v1alpha1';
const PLURALS: Record<string, string> = {
  AgentMachineProfile: 'agentmachineprofiles',
  ToolGrantRecord: 'toolgrantrecords',
  LocalAgentExecution: 'localagentexecutions',
  ContainerExecutionRecord: 'containerexecutionrecords',
  ModelProviderBinding: 'modelproviderbindings',
  AgentMachineDiagnosticBundle: 'agentmachinediagnosticbundles',
};

/** Collection path of an agent-machine object (cluster-scoped profiles have no namespace). */
export function collectionPath(obj: { kind: string; metadata?: { name?: string; namespace?: string } }): string {
  const plural = PLURALS[obj.kind];
  if (!plural) throw new Error(`not an agent-machine kind: ${obj.kind}`);
  return obj.kind === 'AgentMachineProfile' ? `${GROUP_PATH}/${plural}` : `${GROUP_PATH}/namespaces/${obj.metadata?.namespace}/${plural}`;
}

/** POST an agent-machine object as user. */
export function createObjectAs(user: string, obj: { kind: string; metadata?: { name?: string; namespace?: string } }): Promise<ApiAnswer> {
  return apiAs(user, { method: 'POST', path: collectionPath(obj), body: obj });
}

/** Merge-patch an agent-machine object as user. */
export function mergePatchAs(user: string, kind: string, name: string, namespace: string | undefined, patch: object): Promise<ApiAnswer> {
  return apiAs(user, { method: 'PATCH', path: `${collectionPath({ kind, metadata: { namespace } })}/${name}`, body: patch, contentType: 'application/merge-patch+json' });
}
