// POST /v1/tools/authorize {tool, action}: whether the execution may use a tool now, from its
// delegation and the Active ToolGrantRecords (gates.ts checkToolUse) and the delegator's RBAC
// for the tool, asked again per call (authenticate.ts reauthorize), counted as a connectorCall. Answers {allowed: true, grant} or {allowed: false, reason}.
import type http from 'node:http';
import type { AgentMachineProfile, LocalAgentExecution, ToolGrantRecord } from '../api/types.generated.ts';
import type { FullBudget } from '../governance/budget.ts';
import type { Informer } from '../operator/informer.ts';
import { readBody, type GatewayAnswers } from './answers.ts';
import { auditRefusal, reauthorize, type CallAuthority } from './authenticate.ts';
import { checkToolUse } from './gates.ts';
import type { UsageLedger } from './ledger.ts';
import type { PolicyCache } from './policy-cache.ts';

const MAX_BODY_BYTES = 64 * 1024;

export interface ToolAuthorizationDeps {
  profiles: Informer<AgentMachineProfile>;
  /** The cached grants of a tool in a namespace (an informer index). */
  grantsOf: (namespace: string, tool: string) => ToolGrantRecord[];
  ledger: UsageLedger;
  policies: PolicyCache;
  answers: GatewayAnswers;
  authority: CallAuthority;
}

export async function authorizeTool(d: ToolAuthorizationDeps, req: http.IncomingMessage, res: http.ServerResponse, ex: LocalAgentExecution, effective: FullBudget, now: Date): Promise<void> {
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse((await readBody(req, MAX_BODY_BYTES)).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    body = parsed as Record<string, unknown>;
  } catch {
    return d.answers.refuse(res, 'tools', { status: 400, type: 'invalid_request_error', code: 'invalid_json', message: 'the body must be a JSON object {tool, action}' }, true);
  }
  // The audit names only tools the execution was admitted with: the body is the agent's to fill.
  if (typeof body.tool === 'string') d.answers.retarget(res, (ex.spec.tools ?? []).includes(body.tool) ? body.tool : '(not admitted)');
  const profile = d.profiles.get(ex.spec.profileRef.name);
  const check = checkToolUse(ex, body.tool, body.action, typeof body.tool === 'string' ? d.grantsOf(ex.metadata.namespace!, body.tool) : [], now, (grant) => d.policies.toolUse(profile, grant, ex.spec.tenant));
  const refusal = check.ok ? await reauthorize(d.authority, ex, now, { tool: body.tool as string }) : check.refusal;
  if (refusal) {
    await auditRefusal(d.authority, ex, refusal);
    return d.answers.refuse(res, 'tools', refusal, true);
  }
  if (!check.ok) throw new Error('unreachable: a failed check is a refusal');
  const reservation = d.ledger.reserve(ex, effective, 'connectorCall');
  if (!reservation.ok) return d.answers.budgetRefusal(res, 'tools', reservation, true);
  reservation.commit(0);
  d.answers.json(res, 'tools', 200, { allowed: true, tool: body.tool, action: body.action ?? null, grant: check.grant.metadata.name, execution: ex.metadata.name });
}
