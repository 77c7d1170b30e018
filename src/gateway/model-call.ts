// One model call through the gateway, the steps in order (the execution is already
// authenticated and its binding checked by the router):
//
//   reserve     a modelCalls slot in the ledger (429 when used up)
//   plan        read the body; planModelCall (pure) decides what is sent, or refuses
//   hold        the plan's token allowance, until the call settles
//   remember    the prompt texts, for the redactor (prompt-memory.ts)
//   credential  the binding's Secret value (credential cache)
//   upstream    the provider, through the shared connection pool (upstream.ts)
//   relay       the answer back to the agent, settling usage (usage-relay.ts)
//
// Every refusal after the reservation releases it; the relay commits or releases it once.
import type http from 'node:http';
import type { LocalAgentExecution, ModelProviderBinding } from '../api/types.generated.ts';
import type { FullBudget } from '../governance/budget.ts';
import type { Logger } from '../observability/logger.ts';
import { bodyOrRefusal, type GatewayAnswers } from './answers.ts';
import type { CredentialCache } from './credentials.ts';
import type { Refusal } from './gates.ts';
import type { UsageLedger } from './ledger.ts';
import { planModelCall } from './model-call-plan.ts';
import type { PromptMemory } from './prompt-memory.ts';
import { credentialHeaders } from './provider.ts';
import { upstreamErrorCode, type UpstreamClient } from './upstream.ts';
import { relayModelAnswer, Settlement } from './usage-relay.ts';

export interface ModelCallDeps {
  ledger: UsageLedger;
  credentials: CredentialCache;
  upstream: UpstreamClient;
  answers: GatewayAnswers;
  log: Logger;
  maxBodyBytes: number;
  /** Where forwarded prompt texts are remembered for the redactor. */
  prompts?: PromptMemory;
}

export async function forwardModelCall(d: ModelCallDeps, req: http.IncomingMessage, res: http.ServerResponse, path: string, ex: LocalAgentExecution, effective: FullBudget, binding: ModelProviderBinding): Promise<void> {
  const reservation = d.ledger.reserve(ex, effective, 'modelCall');
  if (!reservation.ok) return d.answers.budgetRefusal(res, 'forward', reservation);
  const settlement = new Settlement(reservation, (tokens) => d.answers.tokensCounted(tokens));
  const refuse = (refusal: Refusal) => {
    settlement.release();
    d.answers.refuse(res, 'forward', refusal);
  };

  const read = await bodyOrRefusal(req, d.maxBodyBytes);
  if ('refusal' in read) return refuse(read.refusal);
  const raw = read.raw;
  const planned = planModelCall({ path, body: raw, headers: req.headers, binding, tokensLeft: reservation.tokensLeft(), tokenLimit: effective.tokens });
  if (!planned.ok) return refuse(planned.refusal);
  const { plan } = planned;
  reservation.holdTokens(plan.hold);
  // Before it is sent: the agent may print it while the call runs.
  d.prompts?.remember(ex.metadata.uid!, plan.prompts);

  let credential: string | undefined;
  const ref = binding.spec.credentialsSecretRef;
  if (ref) {
    let lookup = d.credentials.get(binding.metadata.namespace!, ref);
    if (lookup instanceof Promise) {
      try {
        lookup = await lookup;
      } catch {
        return refuse({ status: 503, type: 'service_unavailable', code: 'credential_unavailable', message: `the credential of binding ${binding.metadata.name} could not be read` });
      }
    }
    if (!lookup.found) return refuse({ status: 503, type: 'service_unavailable', code: 'credential_unavailable', message: `the credential of binding ${binding.metadata.name} is not available` });
    credential = lookup.value;
  }

  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const started = performance.now();
  let answer;
  try {
    answer = await d.upstream.request({
      endpoint: plan.endpoint,
      path: plan.path,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...credentialHeaders(binding.spec.provider, credential), ...plan.headers },
      body: plan.payload,
      signal: abort.signal,
    });
  } catch (err) {
    return refuse({ status: 502, type: 'api_error', code: 'upstream_unreachable', message: `the model provider could not be reached (${upstreamErrorCode(err)})` });
  }
  relayModelAnswer(answer, res, {
    settlement,
    addedUsage: plan.addedUsage,
    secrets: () => [credential, ...d.credentials.values()],
    refuse,
    answered: (status, tokens) => {
      d.answers.passed(res, 'forward', status);
      if (d.log.isLevelEnabled('debug')) {
        d.log.debug({ execution: `${ex.metadata.namespace}/${ex.metadata.name}`, status, tokens, ms: Math.round((performance.now() - started) * 10) / 10 }, 'model call forwarded');
      }
    },
  });
}
