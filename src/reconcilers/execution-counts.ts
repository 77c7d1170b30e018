// agent_machine_executions{phase,profile}: how many executions are in each phase under each
// profile, counted from the cache at scrape time. Pure.
import type { LocalAgentExecution } from '../api/types.generated.ts';

export interface ExecutionCount {
  phase: string;
  profile: string;
  count: number;
}

/** One series per (phase, profile) seen; an execution not reconciled yet counts as Pending. */
export function countExecutions(executions: readonly LocalAgentExecution[]): ExecutionCount[] {
  const counts = new Map<string, ExecutionCount>();
  for (const e of executions) {
    const phase = e.status?.phase ?? 'Pending';
    const profile = e.spec?.profileRef?.name ?? '';
    const key = `${phase}\u0000${profile}`;
    const c = counts.get(key);
    if (c) c.count++;
    else counts.set(key, { phase, profile, count: 1 });
  }
  return [...counts.values()];
}
