// One export, the same for the CLI and the controller: gather with the caller's clients, build
// (redact, check), and say what happened. Never writes anything itself.
import { readFileSync } from 'node:fs';
import { buildBundle, type BuildResult, type BundleFlags, type BundleInclude, type BundleScope } from './bundle.ts';
import { ExportRefused, gather, type GatherOptions } from './gather.ts';
import type { RedactionReport } from '../redaction/placeholders.ts';
import type { PromptMatcher } from '../redaction/prompt-matcher.ts';

export { ExportRefused } from './gather.ts';

export interface ExportOptions extends GatherOptions {
  via: 'cli' | 'controller';
  bundle?: { name: string; uid?: string };
  /**
   * Prompt texts the controller's gateway forwarded for these executions (uids), if it still
   * knows them. The CLI knows none: what the controller wrote was redacted when written.
   */
  prompts?: (executionUids: string[]) => PromptMatcher | undefined;
}

export type ExportResult =
  | (Extract<BuildResult, { ok: true }> & { secretsRead: number; notes: string[] })
  | { ok: false; reason: 'RedactionFailed' | 'LeakDetected' | 'ExportRefused'; message: string; report: RedactionReport; flags?: BundleFlags };

/** Gathers and builds. Throws only for errors worth retrying (API unreachable, 5xx). */
export async function exportBundle(opts: ExportOptions): Promise<ExportResult> {
  let gathered;
  try {
    gathered = await gather(opts);
  } catch (err) {
    if (err instanceof ExportRefused) return { ok: false, reason: 'ExportRefused', message: err.message, report: {} };
    throw err;
  }
  const executionUids = gathered.sources.objects.filter((o) => o.kind === 'LocalAgentExecution').map((o) => o.metadata?.uid).filter((u): u is string => u !== undefined);
  const prompts = opts.prompts?.(executionUids);
  const built = buildBundle(gathered.sources, {
    ...(prompts ? { prompts } : {}),
    scope: opts.scope,
    include: opts.include,
    secretValues: gathered.secretValues,
    generator: { via: opts.via, version: agentMachineVersion(), ...(opts.bundle ? { bundle: opts.bundle } : {}) },
    now: opts.now,
  });
  if (!built.ok) return built;
  return { ...built, secretsRead: gathered.secretsRead, notes: gathered.sources.notes };
}

/** The version in package.json, read once when this module loads. */
const VERSION = readVersion();

function readVersion(): string {
  try {
    return String((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

/** The version in package.json. */
export function agentMachineVersion(): string {
  return VERSION;
}

/** "secretValue=3 jwt=1", for humans. */
export function formatReport(report: RedactionReport): string {
  const parts = Object.entries(report).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(' ') : 'nothing to redact';
}

export type { BundleInclude, BundleScope };
