// How the phases of something that runs (a container record, an execution) read as a command:
// one table for both, each kind adding the phases only it has (Creating; Queued, Retrying).
import type { Projection } from './governed-kind.ts';

export const RUN_PROJECTION = {
  Pending: { state: 'queued', event: 'progress', outcome: 'queued', warning: false },
  Running: { state: 'running', event: 'start', outcome: 'started', warning: false },
  Succeeded: { state: 'completed', event: 'complete', outcome: 'completed', warning: false },
  Failed: { state: 'failed', event: 'failure', outcome: 'failed', warning: true },
  Cancelled: { state: 'cancelled', event: 'cancel', outcome: 'cancelled', warning: false },
  Denied: { state: 'failed', event: 'failure', outcome: 'denied', warning: true },
} as const satisfies Record<string, Projection>;
