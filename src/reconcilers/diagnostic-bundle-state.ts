// The AgentMachineDiagnosticBundle state machine, pure. A bundle is a snapshot: exported once
// per generation, then left alone.
//
//   Ready/Failed for this generation ─────────────────────────► nothing to do
//   admission policy missing ─────────────────────────────────► Pending (AuthorityUnverifiable)
//   authority / scope / RBAC (export) denies ─────────────────► Denied (no bundle)
//   redactor error, leak found, Secret unreadable, too large ─► Failed (no bundle)
//   exported and checked ─────────────────────────────────────► Ready (digest, size, ConfigMaps)
import type { AgentMachineDiagnosticBundle } from '../api/types.generated.ts';
import type { Decision } from '../governance/decision.ts';
import type { RedactionReport } from '../redaction/placeholders.ts';
import type { BundleFlags } from '../diagnostics/bundle.ts';
import type { AuthorizationOutcome } from './authorization.ts';
import type { Tri } from './facts.ts';

export type BundlePhase = NonNullable<NonNullable<AgentMachineDiagnosticBundle['status']>['phase']>;

export type ExportFact =
  | { ok: true; digest: string; sizeBytes: number; configMaps: string[]; report: RedactionReport; files: number; flags: BundleFlags }
  | { ok: false; reason: 'RedactionFailed' | 'LeakDetected' | 'ExportRefused' | 'TooLarge'; message: string; report: RedactionReport; flags?: BundleFlags };

export interface BundleFacts {
  bundle: AgentMachineDiagnosticBundle;
  authorization?: AuthorizationOutcome;
  export?: ExportFact;
}

export type BundleDecision =
  | { need: 'authorization' | 'export' }
  | { need?: undefined; done: true }
  | {
      need?: undefined;
      done?: false;
      phase: BundlePhase;
      reason: string;
      message: string;
      authorized: Tri;
      decisions: Decision[];
      export?: ExportFact;
      requeueAfterMs?: number;
    };

// RBAC changes produce no event: a bundle denied for want of `export` is looked at again.
export const RECHECK_DENIED_MS = 30_000;
export const RECHECK_PENDING_MS = 10_000;

export function isSettled(bundle: AgentMachineDiagnosticBundle): boolean {
  const s = bundle.status;
  return (s?.phase === 'Ready' || s?.phase === 'Failed') && s.observedGeneration === bundle.metadata.generation;
}

export function decideBundle(f: BundleFacts): BundleDecision {
  if (isSettled(f.bundle)) return { done: true };
  if (!f.authorization) return { need: 'authorization' };
  const auth = f.authorization;
  if (!auth.allowed) {
    if (auth.reason === 'AuthorityUnverifiable') {
      return { phase: 'Pending', reason: auth.reason, message: auth.message, authorized: 'False', decisions: auth.decisions, requeueAfterMs: RECHECK_PENDING_MS };
    }
    return {
      phase: 'Denied',
      reason: auth.reason,
      message: auth.message,
      authorized: 'False',
      decisions: auth.decisions,
      ...(auth.reason === 'PermissionDenied' ? { requeueAfterMs: RECHECK_DENIED_MS } : {}),
    };
  }
  if (!f.export) return { need: 'export' };
  const e = f.export;
  if (!e.ok) return { phase: 'Failed', reason: e.reason, message: e.message, authorized: 'True', decisions: auth.decisions, export: e };
  const redacted = Object.entries(e.report).map(([k, v]) => `${k}=${v}`).join(' ') || 'nothing';
  return {
    phase: 'Ready',
    reason: 'Exported',
    message: `${e.files} files, ${e.sizeBytes} bytes in ${e.configMaps.length} ConfigMap(s) (${e.digest}); redacted: ${redacted}`,
    authorized: 'True',
    decisions: auth.decisions,
    export: e,
  };
}
